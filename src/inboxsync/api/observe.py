"""Per request: bind the request id for the logs and time the request for ``/metrics``.

A plain ASGI middleware (no extra task per request). The request id is the caller's ``X-Request-Id``
or a new UUID; it is put where :func:`inboxsync.api.envelope.request_id_of` finds it, so the
envelope, the response header and every log line of the request agree. Latency is labelled by the
route template (``/v3/grants/{grant_id}/messages``), never by the raw path.
"""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inboxsync.logging_setup import REQUEST_ID
from inboxsync.metrics import HTTP_LATENCY

MAX_REQUEST_ID = 128


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid = state.get("request_id") or _header(scope, b"x-request-id") or str(uuid.uuid4())
        state["request_id"] = rid
        token = REQUEST_ID.set(rid)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            REQUEST_ID.reset(token)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_LATENCY.labels(scope.get("method", ""), route, str(status)).observe(
                time.perf_counter() - started
            )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1")[:MAX_REQUEST_ID]) or None
    return None
