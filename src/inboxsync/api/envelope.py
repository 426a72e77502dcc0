"""The Nylas v3 envelope: ``{"request_id", "data"}`` and ``{"request_id", "data", "next_cursor"}``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request


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
