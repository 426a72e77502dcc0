"""Parameters as the SDK sends them, the grant in the path, and JSON bodies.

Booleans arrive as ``True``/``False`` (``quote(str(v))``), lists as repeated keys or comma-joined;
both are accepted (:mod:`inboxsync.api.views.query`). Anything we cannot read is a 400 with a
message, never a 500.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.api.deps import Principal, PrincipalDep, SessionDep, principal_of
from inboxsync.api.errors import ApiError
from inboxsync.core.ids import is_valid_id
from inboxsync.errors import InvalidRequest, NotFound
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from inboxsync.store.models import Grant

GRANT_CACHE_SECONDS = 1.0
M = TypeVar("M", bound=BaseModel)


def parse_select(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    return frozenset(f.strip() for f in value.split(",") if f.strip())


def checked_id(kind: str, value: str) -> str:
    """A syntactically plausible id, else 404 (nothing with that id can exist)."""
    if not value or len(value) > 255 or any(ord(c) < 32 for c in value):
        raise NotFound(f"{kind} {value[:80]!r} not found")
    return value


def _grant_cache(request: Request, grant_id: str) -> dict[tuple[str, str | None], Any] | None:
    """This app's cache of grants for reads below a grant (None: look the grant up fresh).

    A page read is one statement; looking the grant up first cost as much again (a session's first
    statement on aiosqlite is several thread hand-offs), so reads under ``/v3/grants/{id}/…`` reuse a
    grant seen in the last :data:`GRANT_CACHE_SECONDS`. Writes look it up fresh and drop the entry, so
    this process never serves a grant it deleted; another process may, for at most that long (its
    messages are gone with it). The grant object itself (``GET /v3/grants/{id}``) is always fresh.
    """
    cache: dict[tuple[str, str | None], Any] | None = getattr(
        request.app.state, "grant_cache", None
    )
    if cache is None:
        cache = {}
        request.app.state.grant_cache = cache
    if request.method not in ("GET", "HEAD"):
        for key in [k for k in cache if k[0] == grant_id]:
            cache.pop(key, None)
        return None
    if getattr(request.scope.get("route"), "path", "") == "/v3/grants/{grant_id}":
        return None
    if len(cache) > 10_000:
        cache.clear()
    return cache


async def _grant(
    request: Request, principal: Principal, grant_id: str, session: AsyncSession | None
) -> Grant:
    """The grant named in the path, if the caller's key may see it (else 404); a session is opened
    only when the grant is not in this process's cache and none was given."""
    if not is_valid_id(grant_id) and "@" not in grant_id:
        raise NotFound(f"grant {grant_id[:80]!r} not found")
    cache = None if "@" in grant_id else _grant_cache(request, grant_id)
    key = (grant_id, principal.api_key_id)
    now = time.monotonic()
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and hit[0] > now:
            cached: Grant = hit[1]
            return cached
    if session is None:
        runtime: Runtime = request.app.state.runtime
        async with runtime.db.read_session() as own:
            return await _grant(request, principal, grant_id, own)
    if "@" in grant_id:
        return await grants.find_by_email(session, grant_id, api_key_id=principal.api_key_id)
    grant = await grants.get(session, grant_id, api_key_id=principal.api_key_id)
    if cache is not None:
        session.expunge(grant)  # loaded and detached: no later rollback expires what is cached
        cache[key] = (now + GRANT_CACHE_SECONDS, grant)
    return grant


async def current_grant(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    grant_id: Annotated[
        str, Path(description="The grant id, or the grant's email address.", max_length=320)
    ],
) -> Grant:
    """The grant named in the path, if the caller's key may see it (else 404)."""
    return await _grant(request, principal, grant_id, session)


GrantPath = Annotated[
    str, Path(description="The grant id, or the grant's email address.", max_length=320)
]


async def read_grant(request: Request, grant_id: str) -> Grant:
    """:func:`current_grant` for the hot read routes, called by the route itself instead of
    through FastAPI's dependency solving (docs/adr/0011): the key and the grant come from this
    process's caches, a session is opened only on a miss."""
    runtime: Runtime = request.app.state.runtime
    return await _grant(request, await principal_of(request, runtime), grant_id, None)


GrantDep = Annotated[Grant, Depends(current_grant)]


async def read_json(request: Request, model: type[M]) -> M:
    """The request body as ``model``: 415 unless JSON, 400 when unreadable or invalid."""
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body.strip() and ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(415, f"expected a JSON body (application/json), not {ctype[:60]!r}")
    try:
        data: Any = json.loads(body) if body.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        ]
        raise InvalidRequest("; ".join(problems)) from exc


def body_doc(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body read by :func:`read_json`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(), "example": example}
            },
        }
    }
