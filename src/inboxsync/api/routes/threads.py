"""Threads: ``/v3/grants/{grant_id}/threads`` list, find, update (PUT), delete.

A thread's summary comes from its ``threads`` row (kept current by the store); its message, draft and
folder ids and its latest message are loaded for a whole page at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.pagination import check_limit, decode_cursor, encode_cursor
from inboxsync.api.paths import path_id
from inboxsync.api.routes.messages import expand, filter_of, in_folder
from inboxsync.api.views import query as q
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import (
    GrantDep,
    GrantPath,
    body_doc,
    checked_id,
    parse_select,
    read_grant,
    read_json,
)
from inboxsync.runtime import Runtime
from inboxsync.search import service as search
from inboxsync.store import actions, listing, queries
from inboxsync.store.db import Database
from inboxsync.store.models import Thread
from inboxsync.views import serialize

router = APIRouter(tags=["threads"], responses=schemas.errors_doc(400, 401, 404))


LATEST_BEFORE = q.Integer("latest_message_before", "Unix seconds")
LATEST_AFTER = q.Integer("latest_message_after", "Unix seconds")
EARLIEST = q.Integer("earliest_message_date", "Unix seconds")
THREAD_FILTERS = (*q.LIST_FILTERS, LATEST_BEFORE, LATEST_AFTER, EARLIEST)


async def thread_filter(
    db: Database, grant_id: str, query: QueryParams
) -> listing.ThreadFilter | None:
    """The list filters (:data:`THREAD_FILTERS`); None when ``in`` names no folder of the grant."""
    messages = await in_folder(db, grant_id, query, filter_of(query, received=False))
    if messages is None:
        return None
    return listing.ThreadFilter(
        messages=messages,
        latest_before=LATEST_BEFORE.read(query),
        latest_after=LATEST_AFTER.read(query),
        earliest_after=EARLIEST.read(query),
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
    openapi_extra=q.document(*THREAD_FILTERS, q.LIMIT, q.PAGE_TOKEN, q.SELECT, q.SEARCH),
)
async def list_threads(request: Request, grant_id: GrantPath) -> responses.JsonBytes:
    # Parameters, key and grant read by hand, not by dependencies: docs/adr/0011.
    gid = await read_grant(request, grant_id)
    runtime: Runtime = request.app.state.runtime
    query = request.query_params
    size = check_limit(q.LIMIT.read(query))
    fields_of = parse_select(q.SELECT.read(query))
    search_query = q.SEARCH.read(query)
    kind = "t" if search_query is None else "u"  # search pages have their own tokens
    after = decode_cursor(kind, q.PAGE_TOKEN.read(query))
    flt = await thread_filter(runtime.db, gid, query)
    if flt is None:
        return responses.many(request, [], None)
    if search_query is None and fields_of is None:  # the common case: one statement
        texts, next_key = await listing.thread_page_json(runtime.db, gid, flt, size, after)
        return responses.many_texts(request, texts, encode_cursor("t", next_key))
    async with runtime.db.read_session() as session:
        if search_query is not None:
            rows, next_key = await search.threads(session, gid, search_query, flt, size, after)
        else:
            rows, next_key = await listing.thread_page(session, gid, flt, size, after)
        data = await expand_threads(session, runtime, gid, rows, fields_of)
    return responses.many(request, data, encode_cursor(kind, next_key))


@router.get(
    "/v3/grants/{grant_id}/threads/{thread_id}",
    summary="Find a thread",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.ThreadEnvelope, schemas.EXAMPLE_THREAD),
    openapi_extra=q.document(q.SELECT),
)
async def find_thread(request: Request, grant_id: GrantPath, thread_id: str) -> responses.JsonBytes:
    gid = await read_grant(request, grant_id)
    runtime: Runtime = request.app.state.runtime
    tid = checked_id("thread", path_id(request, thread_id))
    fields_of = parse_select(q.SELECT.read(request.query_params))
    if fields_of is None:
        return responses.one_text(request, await listing.thread_json_one(runtime.db, gid, tid))
    async with runtime.db.read_session() as session:
        thread = await listing.get_thread(session, gid, tid)
        data = await expand_threads(session, runtime, gid, [thread], fields_of)
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
