"""Liveness, readiness and metrics: ``/v3/health``, ``/healthz``, ``/readyz``, ``/metrics``.

None needs an API key (load balancers and Prometheus call them); ``/metrics`` shows grant ids, so
keep it off the public side of the proxy (``docs/operations.md``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from inboxsync import __version__
from inboxsync.api.deps import RuntimeDep
from inboxsync.api.envelope import one
from inboxsync.metrics import CONTENT_TYPE, render
from inboxsync.store.migrate import HEAD, current_revision, is_current
from inboxsync.store.stats import fleet_stats

router = APIRouter(tags=["health"])


@router.get("/v3/health", summary="Service health (no auth)")
async def health(request: Request) -> dict[str, Any]:
    return one(request, {"status": "ok", "version": __version__})


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers and its schema is current",
    responses={503: {"description": "Not ready: the database or its schema"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    if not await runtime.db.ping():
        return _unready("database", "the database does not answer")
    if not await is_current(runtime.db):
        try:
            at = await current_revision(runtime.db)
        except Exception:
            at = None
        return _unready(
            "migrations",
            f"the database schema is at revision {at or 'none'}, this version needs {HEAD}: "
            "run `inboxsync migrate`",
        )
    return JSONResponse({"status": "ok"})


def _unready(reason: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "reason": reason, "message": message}, status_code=503
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    body = await render(lambda: fleet_stats(runtime.db))
    return Response(body, media_type=CONTENT_TYPE)
