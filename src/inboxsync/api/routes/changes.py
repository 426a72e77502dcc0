"""The change stream: ``GET /v3/grants/{grant_id}/changes`` and ``GET /v3/changes`` (our addition).

``?cursor=<id>&limit=<n>&wait=<s>``: the changes after the cursor, oldest first, and the cursor to
resume from (``next_cursor``, the last id returned, or the same cursor when nothing is new). With
``wait`` the request long-polls until a change arrives. With ``Accept: text/event-stream`` the
response is Server-Sent Events (``id`` = cursor, ``event`` = type such as ``message.created``), and
``Last-Event-ID`` resumes a dropped connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.responses import Response

from inboxsync.api.deps import PrincipalDep, RuntimeDep, SessionDep
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep
from inboxsync.events import stream
from inboxsync.events.horizon import Horizon
from inboxsync.runtime import Runtime
from inboxsync.store import deliveries

router = APIRouter(tags=["changes"], responses=schemas.errors_doc(400, 401, 404))

Cursor = Annotated[str | None, Query(max_length=20, description="Last change id seen; 0: oldest")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Wait = Annotated[float, Query(ge=0, le=60, description="Long-poll up to this many seconds")]
HEARTBEAT = 15.0


class ChangeOut(BaseModel):
    object: str = "change"
    id: str
    cursor: str
    grant_id: str
    type: str
    object_type: str
    object_id: str
    event: str
    fields: list[str]
    created_at: int


class ChangeList(BaseModel):
    request_id: str
    data: list[ChangeOut]
    next_cursor: str


EXAMPLE: dict[str, Any] = {
    "object": "change",
    "id": "42",
    "cursor": "42",
    "grant_id": schemas.GRANT_ID,
    "type": "message.created",
    "object_type": "message",
    "object_id": schemas.MESSAGE_ID,
    "event": "created",
    "fields": [],
    "created_at": 1723800000,
}
DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChangeList,
        "content": {
            "application/json": {
                "example": {"request_id": schemas.RID, "data": [EXAMPLE], "next_cursor": "42"}
            },
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
}


def _horizon(request: Request, runtime: Runtime) -> Horizon:
    horizon = getattr(request.app.state, "change_horizon", None)
    if not isinstance(horizon, Horizon):
        horizon = Horizon(runtime.db)
        request.app.state.change_horizon = horizon
    return horizon


async def _respond(
    request: Request,
    runtime: Runtime,
    grant_ids: Sequence[str] | None,
    cursor_text: str | None,
    limit: int,
    wait: float,
    last_event_id: str | None,
) -> Response:
    cursor = stream.parse_cursor(last_event_id or cursor_text)
    horizon = _horizon(request, runtime)
    if "text/event-stream" in request.headers.get("accept", ""):
        await stream.read(runtime.db, horizon, grant_ids, cursor, 1)  # an expired cursor: 400
        return StreamingResponse(
            _events(request, runtime, horizon, grant_ids, cursor, limit),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    rows = await stream.read(runtime.db, horizon, grant_ids, cursor, limit, wait)
    next_cursor = str(rows[-1].id) if rows else str(cursor)
    return responses.many(request, [stream.item(c) for c in rows], next_cursor)


async def _events(
    request: Request,
    runtime: Runtime,
    horizon: Horizon,
    grant_ids: Sequence[str] | None,
    cursor: int,
    limit: int,
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    while not await request.is_disconnected():
        try:
            rows = await stream.read(runtime.db, horizon, grant_ids, cursor, limit, HEARTBEAT)
        except stream.CursorExpired as exc:
            yield f"event: error\ndata: {json.dumps({'message': str(exc)})}\n\n".encode()
            return
        if not rows:
            yield b": keep-alive\n\n"
            continue
        chunks = []
        for change in rows:
            item = stream.item(change)
            data = json.dumps(item, separators=(",", ":"))
            chunks.append(f"id: {change.id}\nevent: {item['type']}\ndata: {data}\n\n")
        cursor = rows[-1].id
        yield "".join(chunks).encode()


@router.get(
    "/v3/grants/{grant_id}/changes",
    summary="Changes of a grant after a cursor (JSON page, long-poll or Server-Sent Events)",
    response_class=responses.JsonBytes,
    responses=DOC,
)
async def grant_changes(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    wait: Wait = 0.0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    grant_id = grant.id
    await session.rollback()  # give the connection back before a long-poll
    return await _respond(request, runtime, [grant_id], cursor, limit, wait, last_event_id)


@router.get(
    "/v3/changes",
    summary="Changes of every grant this key may see, after a cursor",
    response_class=responses.JsonBytes,
    responses=DOC,
)
async def all_changes(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
    cursor: Cursor = None,
    limit: Limit = 100,
    wait: Wait = 0.0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response:
    grant_ids = None
    if principal.api_key_id is not None:
        grant_ids = await deliveries.grants_of_key(session, principal.api_key_id)
    await session.rollback()
    return await _respond(request, runtime, grant_ids, cursor, limit, wait, last_event_id)
