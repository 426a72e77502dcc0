"""The database handle: one async engine and a session factory, tuned for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from inboxsync.errors import StorageError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """JSON for the database's JSON columns: orjson (a tenth of ``json.dumps``'s CPU on first sync),
    ``json`` for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Database:
    """An async engine plus sessions; ``is_sqlite`` tells the repositories which dialect they face."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": dumps,
            "json_deserializer": orjson.loads,
        }
        if not self.is_sqlite:
            # No pool_pre_ping: on asyncpg it costs three round trips (BEGIN, ";", ROLLBACK) per
            # checkout, more than an API read itself. A connection that died with the server fails
            # one statement (StorageError: 503 with Retry-After) and the pool drops it.
            kwargs.update(pool_size=10, max_overflow=20)
            if url.startswith("postgresql+asyncpg"):
                # Every query here reads or writes a page of rows: starting parallel workers costs
                # more (~5 ms) than it saves, and takes cores the other connections need. A text
                # search's date window is a bitmap of up to 150,000 rows: at the default 4 MB it
                # turns lossy past ~50,000 and rechecks every row (store/search_pages.py).
                kwargs["connect_args"] = {
                    "server_settings": {"max_parallel_workers_per_gather": "0", "work_mem": "16MB"}
                }
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        session_class = type("Session", (Session,), {})
        event.listen(session_class, "after_commit", self._after_commit)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._waiters: set[asyncio.Future[None]] = set()

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("changed", False):
            self.changes_committed()

    def changes_committed(self) -> None:
        """Wake whoever waits for change rows (they were just committed in this process)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for_changes(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bounded wait
        """Wait until this process commits change rows, at most ``timeout`` seconds. Commits made
        by other processes are not seen here: callers keep polling at a slower pace for those."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)
        return True

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits. Database errors surface as :class:`StorageError`."""
        async with self.sessions() as session:
            try:
                yield session
            except SQLAlchemyError as exc:
                await session.rollback()
                raise StorageError(f"database error: {exc.__class__.__name__}: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction that commits on success and rolls back on error."""
        async with self.session() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()
