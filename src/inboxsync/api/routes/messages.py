"""Messages: ``/v3/grants/{grant_id}/messages`` list, find, update (PUT), delete.

Lists are keyset pages (``page_token`` is the previous ``next_cursor``). A page (or a find) with the
standard fields is one statement that returns each message as JSON text rendered by the database
(:mod:`inboxsync.store.message_json`); ``select``, ``include_headers`` and ``raw_mime`` take the
row path: one query for the messages, one for their folders, one for their attachments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.pagination import check_limit, decode_cursor, encode_cursor
from inboxsync.api.paths import path_id
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
from inboxsync.errors import InvalidRequest
from inboxsync.mime import parse
from inboxsync.runtime import Runtime
from inboxsync.search import service as search
from inboxsync.store import actions, queries
from inboxsync.views import serialize

router = APIRouter(tags=["messages"], responses=schemas.errors_doc(400, 401, 404))

FIELDS = ("standard", "include_headers", "raw_mime", "include_tracking_options")
Emails = Annotated[
    list[str] | None,
    Query(description="Repeat the key or join with commas; matches any of them."),
]
Flag = Annotated[str | None, Query(description="true/false (any case)", examples=["True"])]
Fields = Annotated[
    Literal["standard", "include_headers", "raw_mime", "include_tracking_options"] | None,
    Query(description="include_headers: parsed headers; raw_mime: the raw message, base64url"),
]
Stamp = Annotated[int | None, Query(ge=0, le=2**53, description="Unix seconds")]


async def message_filter(
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
    received_before: Stamp = None,
    received_after: Stamp = None,
    has_attachment: Flag = None,
) -> queries.MessageFilter | None:
    """The list filters; None when ``in`` names no folder of the grant (an empty list)."""
    flt = queries.MessageFilter(
        subject=subject or None,
        any_email=parse_emails("any_email", any_email),
        from_=parse_emails("from", from_),
        to=parse_emails("to", to),
        cc=parse_emails("cc", cc),
        bcc=parse_emails("bcc", bcc),
        unread=parse_bool("unread", unread),
        starred=parse_bool("starred", starred),
        thread_id=thread_id or None,
        received_before=received_before,
        received_after=received_after,
        has_attachment=parse_bool("has_attachment", has_attachment),
    )
    if in_:
        folder_id = await queries.resolve_folder(session, grant.id, in_)
        if folder_id is None:
            return None
        flt = replace(flt, folder_id=folder_id)
    return flt


def check_fields(fields: str | None) -> str:
    value = (fields or "standard").strip().lower()
    if value not in FIELDS:
        raise InvalidRequest(f"fields must be one of {', '.join(FIELDS)}")
    return value


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
)
async def list_messages(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    flt: Annotated[queries.MessageFilter | None, Depends(message_filter)],
    limit: Annotated[int | None, Query(ge=1, le=200, description="Default 50")] = None,
    page_token: Annotated[str | None, Query(max_length=512)] = None,
    fields: Fields = None,
    select: Annotated[str | None, Query(max_length=1000, description="Comma-separated")] = None,
    search_query_native: Annotated[str | None, Query(max_length=1000)] = None,
    sort: Annotated[str | None, Query(description="With a search: newest, relevance")] = None,
) -> responses.JsonBytes:
    size = check_limit(limit)
    by_address = None if flt is None else search.address_expr(flt)
    # Search pages (and address-filtered ones, read through the search index) have their own tokens.
    kind = "m" if search_query_native is None and by_address is None else "q"
    after = decode_cursor(kind, page_token)
    mode = check_fields(fields)
    if flt is None:
        return responses.many(request, [], None)
    if search_query_native is None and by_address is not None:
        rows, next_key = await search.messages_by_address(
            session, grant.id, flt, by_address, size, after
        )
        data = await expand(session, runtime, rows, mode, parse_select(select))
        return responses.many(request, data, encode_cursor(kind, next_key))
    if search_query_native is not None:
        relevance = search.check_sort(sort)
        rows, next_key = await search.messages(
            session, grant.id, search_query_native, flt, size, after, relevance=relevance
        )
        data = await expand(session, runtime, rows, mode, parse_select(select))
        return responses.many(request, data, encode_cursor(kind, next_key))
    fields_of = parse_select(select)
    if mode == "standard" and fields_of is None:  # the common case: one statement, no decoding
        texts, next_key = await queries.message_page_json(session, grant.id, flt, size, after)
        return responses.many_texts(request, texts, encode_cursor("m", next_key))
    rows, next_key = await queries.message_page(session, grant.id, flt, size, after)
    data = await expand(session, runtime, rows, mode, fields_of)
    return responses.many(request, data, encode_cursor("m", next_key))


@router.get(
    "/v3/grants/{grant_id}/messages/{message_id}",
    summary="Find a message",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.MessageEnvelope, schemas.EXAMPLE_MESSAGE),
)
async def find_message(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    message_id: str,
    fields: Fields = None,
    select: Annotated[str | None, Query(max_length=1000)] = None,
) -> responses.JsonBytes:
    mid = checked_id("message", path_id(request, message_id))
    mode, fields_of = check_fields(fields), parse_select(select)
    if mode == "standard" and fields_of is None:
        return responses.one_text(request, await queries.message_json_one(session, grant.id, mid))
    row = await queries.message_row(session, grant.id, mid)
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
