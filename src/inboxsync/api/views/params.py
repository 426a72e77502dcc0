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

from inboxsync.api.deps import PrincipalDep, SessionDep, principal_of
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


_CacheKey = tuple[str, str | None]  # (grant id, API key id)


def _caches(request: Request) -> tuple[dict[_CacheKey, Any], dict[_CacheKey, Any]]:
    """This app's caches of grants (objects, for routes that use them) and of grant ids (for the
    hot read routes, which need nothing else): ``(expires at, value)`` by grant and key."""
    state = request.app.state
    caches: tuple[dict[_CacheKey, Any], dict[_CacheKey, Any]] | None = getattr(
        state, "grant_caches", None
    )
    if caches is None:
        caches = state.grant_caches = ({}, {})
    return caches


def _grant_cache(request: Request, grant_id: str) -> dict[_CacheKey, Any] | None:
    """This app's cache of grants for reads below a grant (None: look the grant up fresh).

    A page read is one statement; looking the grant up first cost as much again (a session's first
    statement on aiosqlite is several thread hand-offs), so reads under ``/v3/grants/{id}/…`` reuse a
    grant seen in the last :data:`GRANT_CACHE_SECONDS`. Writes look it up fresh and drop the entry, so
    this process never serves a grant it deleted; another process may, for at most that long (its
    messages are gone with it). The grant object itself (``GET /v3/grants/{id}``) is always fresh.
    """
    objects, ids = _caches(request)
    if request.method not in ("GET", "HEAD"):
        for cache in (objects, ids):
            for key in [k for k in cache if k[0] == grant_id]:
                cache.pop(key, None)
        return None
    if getattr(request.scope.get("route"), "path", "") == "/v3/grants/{grant_id}":
        return None
    if len(objects) > 10_000:
        objects.clear()
    return objects


async def current_grant(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    grant_id: Annotated[
        str, Path(description="The grant id, or the grant's email address.", max_length=320)
    ],
) -> Grant:
    """The grant named in the path, if the caller's key may see it (else 404)."""
    if "@" in grant_id:
        return await grants.find_by_email(session, grant_id, api_key_id=principal.api_key_id)
    if not is_valid_id(grant_id):
        raise NotFound(f"grant {grant_id[:80]!r} not found")
    cache = _grant_cache(request, grant_id)
    key = (grant_id, principal.api_key_id)
    now = time.monotonic()
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and hit[0] > now:
            grant: Grant = hit[1]
            return grant
    grant = await grants.get(session, grant_id, api_key_id=principal.api_key_id)
    if cache is not None:
        session.expunge(grant)  # loaded and detached: no later rollback expires what is cached
        cache[key] = (now + GRANT_CACHE_SECONDS, grant)
    return grant


GrantPath = Annotated[
    str, Path(description="The grant id, or the grant's email address.", max_length=320)
]


async def read_grant(request: Request, grant_id: str) -> str:
    """The id of the grant in the path of a hot read route, if the caller's key may see it
    (else 404): :func:`current_grant` called by the route itself rather than through FastAPI's
    dependency solving, reading only the id, outside any session (docs/adr/0011)."""
    runtime: Runtime = request.app.state.runtime
    principal = await principal_of(request, runtime)
    if "@" not in grant_id and not is_valid_id(grant_id):
        raise NotFound(f"grant {grant_id[:80]!r} not found")
    ids = _caches(request)[1]
    key = (grant_id, principal.api_key_id)
    now = time.monotonic()
    hit = ids.get(key)
    if hit is not None and hit[0] > now:
        found: str = hit[1]
        return found
    found = await grants.visible_id(runtime.db, grant_id, api_key_id=principal.api_key_id)
    if len(ids) > 10_000:
        ids.clear()
    ids[key] = (now + GRANT_CACHE_SECONDS, found)
    return found


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
