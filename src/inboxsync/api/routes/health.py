"""Liveness and readiness: ``/v3/health``, ``/healthz``, ``/readyz``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from inboxsync import __version__
from inboxsync.api.deps import RuntimeDep
from inboxsync.api.envelope import one
from inboxsync.store.migrate import is_current

router = APIRouter(tags=["health"])


@router.get("/v3/health", summary="Service health (no auth)")
async def health(request: Request) -> dict[str, Any]:
    return one(request, {"status": "ok", "version": __version__})


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is current")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    if not await runtime.db.ping():
        return JSONResponse({"status": "unavailable", "reason": "database"}, status_code=503)
    if not await is_current(runtime.db):
        return JSONResponse({"status": "unavailable", "reason": "migrations"}, status_code=503)
    return JSONResponse({"status": "ok"})
