"""Routing on the raw path, and the request-size guard.

The SDK percent-encodes message, thread and draft ids (``quote(id, safe='')``), so an IMAP-style id
``a/b`` arrives as ``a%2Fb``. Starlette routes on the *decoded* path, where that ``/`` would split the
segment. :class:`RawPathMiddleware` rebuilds ``scope["path"]`` from ``raw_path``: a segment whose
decoded form contains ``/`` is kept percent-encoded (so it still matches ``{message_id}``) and the
route turns it back with :func:`path_id`, which decodes exactly once.

:class:`BodyLimitMiddleware` refuses bodies over :data:`MAX_BODY` with a 413 before a route reads them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY = 1 << 20  # 1 MiB: JSON bodies of updates are small; sending is another route
_ENCODED = "inboxsync.encoded_ids"


class RawPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes | None = scope.get("raw_path")
            if raw and (b"%2f" in raw or b"%2F" in raw):
                scope = dict(scope)
                encoded: dict[str, str] = {}
                segments = []
                for segment in raw.split(b"?", 1)[0].decode("latin-1").split("/"):
                    decoded = unquote(segment)
                    if "/" in decoded:
                        kept = quote(decoded, safe="")
                        encoded[kept] = decoded
                        segments.append(kept)
                    else:
                        segments.append(decoded)
                scope["path"] = "/".join(segments)
                scope[_ENCODED] = encoded
        await self.app(scope, receive, send)


def path_id(request: Request, value: str) -> str:
    """The id a path parameter stands for (``a%2Fb`` kept by the middleware becomes ``a/b``)."""
    encoded: dict[str, str] | None = request.scope.get(_ENCODED)
    if encoded:
        return encoded.get(value, value)
    return value


class BodyLimitMiddleware:
    """413 for a declared or streamed body over ``MAX_BODY`` bytes, in the Nylas error shape."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _too_large(scope, send, self.limit)
                    return
        received = 0

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    state = scope.get("state") or {}
    rid = str(state.get("request_id") or uuid.uuid4())
    body = json.dumps(
        {
            "request_id": rid,
            "error": {
                "type": "api.invalid_request_payload",
                "message": f"request body is larger than {limit} bytes",
            },
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
