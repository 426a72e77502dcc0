"""The Nylas v3 envelope: ``{"request_id", "data"}`` and ``{"request_id", "data", "next_cursor"}``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def request_id_of(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or str(uuid.uuid4())
        request.state.request_id = rid
    return str(rid)


def one(request: Request, data: Any) -> dict[str, Any]:
    return {"request_id": request_id_of(request), "data": data}


def many(request: Request, data: list[Any], next_cursor: str | None = None) -> dict[str, Any]:
    return {"request_id": request_id_of(request), "data": data, "next_cursor": next_cursor}


def deleted(request: Request) -> dict[str, Any]:
    return {"request_id": request_id_of(request), "data": {"status": "success"}}


class RequestIdHeader:
    """Adds ``X-Request-Id`` (the id the envelope carries) to every HTTP response.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                rid = state.get("request_id")
                if rid is None:
                    rid = state["request_id"] = str(uuid.uuid4())
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", str(rid).encode("latin-1", "replace")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
