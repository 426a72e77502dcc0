"""JSON bytes without FastAPI's encoder, wrapped in the Nylas v3 envelope.

The objects themselves are built by :mod:`inboxsync.views.serialize`, or arrive as JSON text the
database rendered (:mod:`inboxsync.store.message_json`), spliced in as :class:`orjson.Fragment`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from inboxsync.api.envelope import request_id_of


class JsonBytes(JSONResponse):
    """JSON already encoded to bytes (a JSONResponse subclass so that OpenAPI documents JSON)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def encode(payload: Any) -> bytes:
    """orjson; the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def render(payload: dict[str, Any], status: int = 200) -> JsonBytes:
    return JsonBytes(encode(payload), status_code=status)


def one(request: Request, data: dict[str, Any], status: int = 200) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data}, status)


def many(request: Request, data: list[dict[str, Any]], next_cursor: str | None) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data, "next_cursor": next_cursor})


def one_text(request: Request, data: str | bytes) -> JsonBytes:
    """``one`` for an object that is already JSON (text or UTF-8)."""
    return render({"request_id": request_id_of(request), "data": orjson.Fragment(data)})


def many_texts(
    request: Request, data: Sequence[str] | Sequence[bytes], next_cursor: str | None
) -> JsonBytes:
    """``many`` for objects that are already JSON (text or UTF-8)."""
    return render(
        {
            "request_id": request_id_of(request),
            "data": [orjson.Fragment(d) for d in data],
            "next_cursor": next_cursor,
        }
    )


def deleted(request: Request) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": {"status": "success"}})
