"""Messages: ``/v3/grants/{grant_id}/messages`` list, find, update (PUT), delete.

Lists are keyset pages (``page_token`` is the previous ``next_cursor``). A page (or a find) with the
standard fields is one statement that returns each message as JSON text rendered by the database
(:mod:`inboxsync.store.message_json`); ``select``, ``include_headers`` and ``raw_mime`` take the
row path: one query for the messages, one for their folders, one for their attachments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams

from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.pagination import check_limit, decode_cursor, encode_cursor
from inboxsync.api.paths import path_id
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
from inboxsync.api.views.query import Choice
from inboxsync.mime import parse
from inboxsync.runtime import Runtime
from inboxsync.search import service as search
from inboxsync.store import actions, queries
from inboxsync.store.db import Database
from inboxsync.views import serialize

router = APIRouter(tags=["messages"], responses=schemas.errors_doc(400, 401, 404))

FIELDS = Choice(
    "fields",
    "include_headers: parsed headers; raw_mime: the raw message, base64url",
    choices=("standard", "include_headers", "raw_mime", "include_tracking_options"),
)
SORT = Choice("sort", "With a search: newest (default) or relevance", choices=search.SORTS)
MESSAGE_FILTERS = (*q.LIST_FILTERS, q.RECEIVED_BEFORE, q.RECEIVED_AFTER)


def filter_of(query: QueryParams, *, received: bool = True) -> queries.MessageFilter:
    """The message-level filters of a list route, ``in`` aside (thread lists have their own date
    filters instead of ``received_*``: ``received=False``)."""
    return queries.MessageFilter(
        subject=q.SUBJECT.read(query),
        any_email=q.ANY_EMAIL.read(query),
        from_=q.FROM.read(query),
        to=q.TO.read(query),
        cc=q.CC.read(query),
        bcc=q.BCC.read(query),
        unread=q.UNREAD.read(query),
        starred=q.STARRED.read(query),
        thread_id=q.THREAD_ID.read(query),
        received_before=q.RECEIVED_BEFORE.read(query) if received else None,
        received_after=q.RECEIVED_AFTER.read(query) if received else None,
        has_attachment=q.HAS_ATTACHMENT.read(query),
    )


async def in_folder(
    db: Database, grant_id: str, query: QueryParams, flt: queries.MessageFilter
) -> queries.MessageFilter | None:
    """``flt`` narrowed to the folder ``in`` names (id, role or name); None when it names no
    folder of the grant (an empty list)."""
    folder = q.IN.read(query)
    if not folder:
        return flt
    folder_id = await queries.resolve_folder(db, grant_id, folder)
    return None if folder_id is None else replace(flt, folder_id=folder_id)


async def message_filter(
    db: Database, grant_id: str, query: QueryParams
) -> queries.MessageFilter | None:
    """The list filters (:data:`MESSAGE_FILTERS`); None when ``in`` names no folder of the grant."""
    return await in_folder(db, grant_id, query, filter_of(query))


async def _raw(runtime: Runtime, sha256: str) -> bytes:
    return await anyio.to_thread.run_sync(runtime.blobs.get, sha256)


async def _headers(runtime: Runtime, sha256: str) -> list[dict[str, str]]:
    raw = await _raw(runtime, sha256)
    parsed = await anyio.to_thread.run_sync(parse, raw)
    return [{"name": h.name, "value": h.value} for h in parsed.headers]


async def expand(
    session: AsyncSession,
    runtime: Runtime,
    rows: Sequence[Any],
    fields: str = "standard",
    select: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Message rows -> wire dicts (folders and attachments in one query each)."""
    if fields == "raw_mime":
        return [serialize.raw_mime(r, await _raw(runtime, r.sha256)) for r in rows]
    ids = [r.id for r in rows]
    folders = await queries.folders_of(session, ids)
    files = await queries.attachments_of(session, ids)
    out = []
    for r in rows:
        obj = serialize.message(r, folders.get(r.id, []), files.get(r.id, ()))
        if fields == "include_headers":
            obj["headers"] = await _headers(runtime, r.sha256)
        out.append(serialize.pick(obj, select))
    return out


@router.get(
    "/v3/grants/{grant_id}/messages",
    summary="List messages, newest first",
    response_class=responses.JsonBytes,
    responses=schemas.many_doc(schemas.MessageList, schemas.EXAMPLE_MESSAGE),
    openapi_extra=q.document(
        *MESSAGE_FILTERS, q.LIMIT, q.PAGE_TOKEN, FIELDS, q.SELECT, q.SEARCH, SORT
    ),
)
async def list_messages(request: Request, grant_id: GrantPath) -> responses.JsonBytes:
    # Parameters, key and grant read by hand, not by dependencies: docs/adr/0011.
    gid = await read_grant(request, grant_id)
    runtime: Runtime = request.app.state.runtime
    query = request.query_params
    size = check_limit(q.LIMIT.read(query))
    mode = FIELDS.read(query) or "standard"
    fields_of = parse_select(q.SELECT.read(query))
    search_query = q.SEARCH.read(query)
    relevance = search.check_sort(SORT.read(query))
    flt = await message_filter(runtime.db, gid, query)
    kind = "m" if search_query is None else "q"  # search pages have their own tokens
    after = decode_cursor(kind, q.PAGE_TOKEN.read(query))
    if flt is None:
        return responses.many(request, [], None)
    if mode == "standard" and fields_of is None and kind == "m":
        # The common case: one statement, no decoding.
        texts, next_key = await queries.message_page_json(runtime.db, gid, flt, size, after)
        return responses.many_texts(request, texts, encode_cursor("m", next_key))
    async with runtime.db.read_session() as session:
        if search_query is not None:
            rows, next_key = await search.messages(
                session, gid, search_query, flt, size, after, relevance=relevance
            )
        else:
            rows, next_key = await queries.message_page(session, gid, flt, size, after)
        data = await expand(session, runtime, rows, mode, fields_of)
    return responses.many(request, data, encode_cursor(kind, next_key))


@router.get(
    "/v3/grants/{grant_id}/messages/{message_id}",
    summary="Find a message",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.MessageEnvelope, schemas.EXAMPLE_MESSAGE),
    openapi_extra=q.document(FIELDS, q.SELECT),
)
async def find_message(
    request: Request, grant_id: GrantPath, message_id: str
) -> responses.JsonBytes:
    gid = await read_grant(request, grant_id)
    runtime: Runtime = request.app.state.runtime
    mid = checked_id("message", path_id(request, message_id))
    mode = FIELDS.read(request.query_params) or "standard"
    fields_of = parse_select(q.SELECT.read(request.query_params))
    if mode == "standard" and fields_of is None:
        return responses.one_text(request, await queries.message_json_one(runtime.db, gid, mid))
    async with runtime.db.read_session() as session:
        row = await queries.message_row(session, gid, mid)
        data = await expand(session, runtime, [row], mode, fields_of)
    return responses.one(request, data[0])


@router.put(
    "/v3/grants/{grant_id}/messages/{message_id}",
    summary="Update a message (unread, starred, folders, metadata)",
    response_class=responses.JsonBytes,
    responses={
        **schemas.one_doc(schemas.MessageEnvelope, schemas.EXAMPLE_MESSAGE),
        **schemas.errors_doc(413, 415),
    },
    openapi_extra=body_doc(schemas.MessageUpdate, {"unread": False, "starred": True}),
)
async def update_message(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    message_id: str,
) -> responses.JsonBytes:
    mid = checked_id("message", path_id(request, message_id))
    body = await read_json(request, schemas.MessageUpdate)
    await session.commit()  # end the read snapshot before writing (SQLite upgrades badly)
    await actions.update_message(
        session,
        grant.id,
        mid,
        unread=body.unread,
        starred=body.starred,
        folder_ids=body.folders,
        metadata=body.metadata,
        self_email=grant.email,
    )
    await session.commit()
    row = await queries.message_row(session, grant.id, mid)
    data = await expand(session, runtime, [row])
    return responses.one(request, data[0])


@router.delete(
    "/v3/grants/{grant_id}/messages/{message_id}",
    summary="Delete a message (to the trash folder when there is one)",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_message(
    request: Request, grant: GrantDep, session: SessionDep, message_id: str
) -> responses.JsonBytes:
    mid = checked_id("message", path_id(request, message_id))
    await session.commit()
    await actions.delete_message(session, grant.id, mid, self_email=grant.email)
    await session.commit()
    return responses.deleted(request)
