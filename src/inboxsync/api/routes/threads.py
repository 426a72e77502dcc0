"""Threads: ``/v3/grants/{grant_id}/threads`` list, find, update (PUT), delete.

A thread's summary comes from its ``threads`` row (kept current by the store); its message, draft and
folder ids and its latest message are loaded for a whole page at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.pagination import check_limit, decode_cursor, encode_cursor
from inboxsync.api.paths import path_id
from inboxsync.api.routes.messages import Emails, Flag, Stamp, expand
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import (
    GrantDep,
    body_doc,
    checked_id,
    parse_bool,
    parse_emails,
    parse_select,
    read_json,
)
from inboxsync.runtime import Runtime
from inboxsync.search import service as search
from inboxsync.store import actions, listing, queries
from inboxsync.store.models import Thread
from inboxsync.views import serialize

router = APIRouter(tags=["threads"], responses=schemas.errors_doc(400, 401, 404))


async def thread_filter(
    grant: GrantDep,
    session: SessionDep,
    subject: Annotated[str | None, Query(max_length=1000)] = None,
    any_email: Emails = None,
    from_: Annotated[list[str] | None, Query(alias="from")] = None,
    to: Emails = None,
    cc: Emails = None,
    bcc: Emails = None,
    in_: Annotated[
        str | None,
        Query(alias="in", max_length=1000, description="Folder id, role (inbox) or name"),
    ] = None,
    unread: Flag = None,
    starred: Flag = None,
    thread_id: Annotated[str | None, Query(max_length=255)] = None,
    has_attachment: Flag = None,
    latest_message_before: Stamp = None,
    latest_message_after: Stamp = None,
    earliest_message_date: Stamp = None,
) -> listing.ThreadFilter | None:
    messages = queries.MessageFilter(
        subject=subject or None,
        any_email=parse_emails("any_email", any_email),
        from_=parse_emails("from", from_),
        to=parse_emails("to", to),
        cc=parse_emails("cc", cc),
        bcc=parse_emails("bcc", bcc),
        unread=parse_bool("unread", unread),
        starred=parse_bool("starred", starred),
        thread_id=thread_id or None,
        has_attachment=parse_bool("has_attachment", has_attachment),
    )
    if in_:
        folder_id = await queries.resolve_folder(session, grant.id, in_)
        if folder_id is None:
            return None
        messages = replace(messages, folder_id=folder_id)
    return listing.ThreadFilter(
        messages=messages,
        latest_before=latest_message_before,
        latest_after=latest_message_after,
        earliest_after=earliest_message_date,
    )


async def expand_threads(
    session: AsyncSession,
    runtime: Runtime,
    grant_id: str,
    rows: Sequence[Thread],
    select: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    ids = [t.id for t in rows]
    members = await listing.thread_members(session, grant_id, ids)
    latest_ids = [t.latest_message_id for t in rows if t.latest_message_id]
    latest_rows = await queries.message_rows(session, grant_id, latest_ids)
    expanded = await expand(session, runtime, latest_rows)
    latest = {r.id: m for r, m in zip(latest_rows, expanded, strict=True)}
    out = []
    for t in rows:
        obj = serialize.thread(t, members[t.id], latest.get(t.latest_message_id or ""))
        out.append(serialize.pick(obj, select, serialize.THREAD_REQUIRED))
    return out


@router.get(
    "/v3/grants/{grant_id}/threads",
    summary="List threads, most recent first",
    response_class=responses.JsonBytes,
    responses=schemas.many_doc(schemas.ThreadList, schemas.EXAMPLE_THREAD),
)
async def list_threads(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    flt: Annotated[listing.ThreadFilter | None, Depends(thread_filter)],
    limit: Annotated[int | None, Query(ge=1, le=200, description="Default 50")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    select: Annotated[str | None, Query(max_length=1000)] = None,
    search_query_native: Annotated[str | None, Query(max_length=1000)] = None,
) -> responses.JsonBytes:
    size = check_limit(limit)
    kind = "t" if search_query_native is None else "u"  # search pages have their own tokens
    after = decode_cursor(kind, page_token)
    if flt is None:
        return responses.many(request, [], None)
    if search_query_native is not None:
        rows, next_key = await search.threads(
            session, grant.id, search_query_native, flt, size, after
        )
        data = await expand_threads(session, runtime, grant.id, rows, parse_select(select))
        return responses.many(request, data, encode_cursor(kind, next_key))
    fields_of = parse_select(select)
    if fields_of is None:  # the common case: one statement, no decoding
        texts, next_key = await listing.thread_page_json(session, grant.id, flt, size, after)
        return responses.many_texts(request, texts, encode_cursor("t", next_key))
    rows, next_key = await listing.thread_page(session, grant.id, flt, size, after)
    data = await expand_threads(session, runtime, grant.id, rows, fields_of)
    return responses.many(request, data, encode_cursor("t", next_key))


@router.get(
    "/v3/grants/{grant_id}/threads/{thread_id}",
    summary="Find a thread",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.ThreadEnvelope, schemas.EXAMPLE_THREAD),
)
async def find_thread(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    thread_id: str,
    select: Annotated[str | None, Query(max_length=1000)] = None,
) -> responses.JsonBytes:
    tid = checked_id("thread", path_id(request, thread_id))
    fields_of = parse_select(select)
    if fields_of is None:
        return responses.one_text(request, await listing.thread_json_one(session, grant.id, tid))
    thread = await listing.get_thread(session, grant.id, tid)
    data = await expand_threads(session, runtime, grant.id, [thread], fields_of)
    return responses.one(request, data[0])


@router.put(
    "/v3/grants/{grant_id}/threads/{thread_id}",
    summary="Update every message of a thread (unread, starred, folders)",
    response_class=responses.JsonBytes,
    responses={
        **schemas.one_doc(schemas.ThreadEnvelope, schemas.EXAMPLE_THREAD),
        **schemas.errors_doc(413, 415),
    },
    openapi_extra=body_doc(schemas.ThreadUpdate, {"unread": False}),
)
async def update_thread(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    thread_id: str,
) -> responses.JsonBytes:
    tid = checked_id("thread", path_id(request, thread_id))
    body = await read_json(request, schemas.ThreadUpdate)
    await listing.get_thread(session, grant.id, tid)
    mids = await listing.thread_message_ids(session, grant.id, tid)
    await session.commit()
    for mid in mids:
        await actions.update_message(
            session,
            grant.id,
            mid,
            unread=body.unread,
            starred=body.starred,
            folder_ids=body.folders,
            self_email=grant.email,
        )
    await session.commit()
    session.expunge_all()
    thread = await listing.get_thread(session, grant.id, tid)
    data = await expand_threads(session, runtime, grant.id, [thread])
    return responses.one(request, data[0])


@router.delete(
    "/v3/grants/{grant_id}/threads/{thread_id}",
    summary="Delete every message of a thread (to the trash folder when there is one)",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_thread(
    request: Request, grant: GrantDep, session: SessionDep, thread_id: str
) -> responses.JsonBytes:
    tid = checked_id("thread", path_id(request, thread_id))
    await listing.get_thread(session, grant.id, tid)
    mids = await listing.thread_message_ids(session, grant.id, tid)
    await session.commit()
    for mid in mids:
        await actions.delete_message(session, grant.id, mid, self_email=grant.email)
    await session.commit()
    return responses.deleted(request)
