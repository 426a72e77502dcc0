"""Drafts: ``/v3/grants/{grant_id}/drafts`` list, create, find, update (PUT), delete, send (POST).

A draft keeps its id across updates; ``POST drafts/{id}`` (no body) sends it and answers the
Message (same id), which leaves the Drafts folder once the worker removed the copy there.
The SDK's drafts.create/update with 3 MiB or more of attachments crashes after the server has
answered (nylas-python #454): the draft *is* stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from inboxsync.actions.compose import Composed, strip_bcc
from inboxsync.actions.drafts import Drafts
from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.pagination import check_limit, decode_cursor, encode_cursor
from inboxsync.api.paths import path_id
from inboxsync.api.routes.messages import MESSAGE_FILTERS, expand, message_filter
from inboxsync.api.routes.send import (
    compose_for,
    metadata_of,
    outgoing_of,
    read_outgoing,
    send_accepted,
    wake,
)
from inboxsync.api.views import query as q
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep, GrantPath, checked_id, parse_select, read_grant
from inboxsync.runtime import Runtime
from inboxsync.store import drafts, queries

router = APIRouter(tags=["drafts"], responses=schemas.errors_doc(400, 401, 404))


def _as_draft(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "object": "draft"}


async def _draft_data(runtime: Runtime, grant_id: str, draft_id: str) -> dict[str, Any]:
    async with runtime.db.session() as session:
        await drafts.get(session, grant_id, draft_id)
        row = await queries.message_row(session, grant_id, draft_id)
        return _as_draft((await expand(session, runtime, [row]))[0])


@router.get(
    "/v3/grants/{grant_id}/drafts",
    summary="List drafts",
    response_class=responses.JsonBytes,
    openapi_extra=q.document(*MESSAGE_FILTERS, q.LIMIT, q.PAGE_TOKEN, q.SELECT),
)
async def list_drafts(request: Request, grant_id: GrantPath) -> responses.JsonBytes:
    gid = await read_grant(request, grant_id)
    runtime: Runtime = request.app.state.runtime
    query = request.query_params
    size = check_limit(q.LIMIT.read(query))
    after = decode_cursor("d", q.PAGE_TOKEN.read(query))
    fields_of = parse_select(q.SELECT.read(query))
    flt = await message_filter(runtime.db, gid, query)
    if flt is None:
        return responses.many(request, [], None)
    async with runtime.db.read_session() as session:
        rows, key = await drafts.page(session, gid, flt, size, after)
        data = await expand(session, runtime, rows, "standard", fields_of)
    return responses.many(request, [_as_draft(d) for d in data], encode_cursor("d", key))


@router.post(
    "/v3/grants/{grant_id}/drafts", summary="Create a draft", response_class=responses.JsonBytes
)
async def create_draft(
    request: Request, grant: GrantDep, session: SessionDep, runtime: RuntimeDep
) -> responses.JsonBytes:
    await session.commit()
    body, files = await read_outgoing(request, runtime.settings.max_send_bytes)
    composed = await compose_for(runtime, grant, body, files)
    draft_id = await Drafts(outgoing_of(runtime)).create(grant, composed, metadata_of(body))
    wake(request, grant.id)
    return responses.one(request, await _draft_data(runtime, grant.id, draft_id))


@router.get(
    "/v3/grants/{grant_id}/drafts/{draft_id}",
    summary="Find a draft",
    response_class=responses.JsonBytes,
)
async def find_draft(
    request: Request, grant: GrantDep, runtime: RuntimeDep, draft_id: str
) -> responses.JsonBytes:
    did = checked_id("draft", path_id(request, draft_id))
    return responses.one(request, await _draft_data(runtime, grant.id, did))


@router.put(
    "/v3/grants/{grant_id}/drafts/{draft_id}",
    summary="Update a draft (the whole draft is replaced; its id stays)",
    response_class=responses.JsonBytes,
)
async def update_draft(
    request: Request, grant: GrantDep, session: SessionDep, runtime: RuntimeDep, draft_id: str
) -> responses.JsonBytes:
    did = checked_id("draft", path_id(request, draft_id))
    await session.commit()
    body, files = await read_outgoing(request, runtime.settings.max_send_bytes)
    composed = await compose_for(runtime, grant, body, files)
    await Drafts(outgoing_of(runtime)).update(grant, did, composed, metadata_of(body))
    wake(request, grant.id)
    return responses.one(request, await _draft_data(runtime, grant.id, did))


@router.delete(
    "/v3/grants/{grant_id}/drafts/{draft_id}",
    summary="Delete a draft",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_draft(
    request: Request, grant: GrantDep, session: SessionDep, draft_id: str
) -> responses.JsonBytes:
    did = checked_id("draft", path_id(request, draft_id))
    await session.commit()
    await drafts.delete(session, grant.id, did, self_email=grant.email)
    await session.commit()
    return responses.deleted(request)


@router.post(
    "/v3/grants/{grant_id}/drafts/{draft_id}",
    summary="Send a draft (no body); answers the sent Message",
    response_class=responses.JsonBytes,
)
async def send_draft(
    request: Request, grant: GrantDep, session: SessionDep, runtime: RuntimeDep, draft_id: str
) -> responses.JsonBytes:
    did = checked_id("draft", path_id(request, draft_id))
    row = await drafts.get(session, grant.id, did)
    sha, header = row.sha256, row.message_id_header or ""
    recipients = [p["email"] for p in (*row.to, *row.cc, *row.bcc) if p.get("email")]
    sender = next((p["email"] for p in row.from_ if p.get("email")), grant.email)
    await session.commit()
    raw = await asyncio.to_thread(runtime.blobs.get, sha)
    composed = Composed(raw, strip_bcc(raw), sender, tuple(dict.fromkeys(recipients)), header)
    data = await send_accepted(request, runtime, grant, composed, draft_id=did)
    return responses.one(request, data)
