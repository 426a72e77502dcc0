"""Typed dependencies of the routes: the runtime, a database session, the caller's identity."""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.api.errors import ApiError
from inboxsync.runtime import Runtime
from inboxsync.store import api_keys


async def get_runtime(request: Request) -> Runtime:  # async: FastAPI runs sync ones in a thread
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    supervisor = getattr(request.app.state, "supervisor", None)
    reading = request.method in ("GET", "HEAD")
    opened = runtime.db.read_session() if reading else runtime.db.session()
    async with opened as session:
        if supervisor is not None and not reading:

            def after_commit(sync_session: Any) -> None:
                # Committed: the grant's worker writes the change back now, while the response
                # is still being rendered.
                for grant_id in sync_session.info.pop("enqueued_for", ()):
                    supervisor.notify(grant_id)

            event.listen(session.sync_session, "after_commit", after_commit)
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator's key (sees every grant) or a stored key (sees its own)."""

    api_key_id: str | None

    @property
    def is_operator(self) -> bool:
        return self.api_key_id is None


KEY_CACHE_SECONDS = 1.0


async def principal_of(request: Request, runtime: Runtime) -> Principal:
    """The caller, from ``Authorization: Bearer <key>``; 401 without a valid key.

    A stored key found in the database is remembered by this process for :data:`KEY_CACHE_SECONDS`
    (keys cannot be revoked, only rotated with the database; a rejected key is never cached).
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
    operator_key = runtime.settings.api_key
    if operator_key is not None and hmac.compare_digest(
        key.encode(), operator_key.get_secret_value().encode()
    ):
        return Principal(api_key_id=None)
    cache: dict[str, tuple[float, str]] | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = {}
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return Principal(api_key_id=hit[1])
    key_id = await api_keys.id_of(runtime.db, key)
    if key_id is None:
        raise ApiError(401, "invalid API key")
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (now + KEY_CACHE_SECONDS, key_id)
    return Principal(api_key_id=key_id)


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    return await principal_of(request, runtime)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
