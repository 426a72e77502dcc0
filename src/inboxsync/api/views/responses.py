"""JSON bytes without FastAPI's encoder, wrapped in the Nylas v3 envelope.

The objects themselves are built by :mod:`inboxsync.views.serialize`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from inboxsync.api.envelope import request_id_of


class JsonBytes(JSONResponse):
    """JSON already encoded to bytes (a JSONResponse subclass so that OpenAPI documents JSON)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def render(payload: dict[str, Any], status: int = 200) -> JsonBytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return JsonBytes(body, status_code=status)


def one(request: Request, data: dict[str, Any], status: int = 200) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data}, status)


def many(request: Request, data: list[dict[str, Any]], next_cursor: str | None) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data, "next_cursor": next_cursor})


def deleted(request: Request) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": {"status": "success"}})
