"""The database handle: one async engine and a session factory, tuned for SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import Executable, Row, Select, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
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


INLINE_BUSY_MS = 20
# Every query here reads or writes a page of rows: starting parallel workers costs more (~5 ms)
# than it saves, and takes cores the other connections need. A text search's date window is a
# bitmap of up to 150,000 rows: at the default 4 MB it turns lossy past ~50,000 and rechecks every
# row (store/search_pages.py).
_PG_SETTINGS = {"max_parallel_workers_per_gather": "0", "work_mem": "16MB"}
# The prepared reads (Database.read_prepared) are pages walked down one index with a LIMIT:
# their plan does not depend on the values, and planning each execution again, as the default
# chooses for a join, was a third of an ``in=`` page's time on the server (0.70 -> 0.47 ms; the
# shapes measured one by one on 100,000 messages: docs/adr/0015).
_PG_READ_SETTINGS = {**_PG_SETTINGS, "plan_cache_mode": "force_generic_plan"}


# The inline reads take pages from a memory map of the file, not copied in by a read() each into
# the 64 MB cache: a list page of 51 messages anywhere in a 1.5 GB file 364 -> 205 us
# (docs/adr/0015). SQLite caps it at its own maximum (2 GB as Debian builds it); the rest of a
# bigger file is read as before.
_SQLITE_READ_MMAP_BYTES = 1 << 40


def _inline_pragmas(dbapi_connection: Any, _record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, _record)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={INLINE_BUSY_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA mmap_size={_SQLITE_READ_MMAP_BYTES}")
    cursor.close()


class _SqliteReads:
    """Read-only statements on SQLite, run on the event loop's own thread (see :meth:`Database.read`).

    aiosqlite hands every DB-API call (cursor, execute, fetch, close, the pool's rollback) to its
    thread and back: five hops and ~0.8 ms of a 1.7 ms page read. A pool of reader threads (one hop
    each) was measured too: under 40 concurrent clients at ~400 pages a second, its median latency
    was 15-25 ms against 3.6 ms inline, the loop and the readers waiting on each other for the GIL.
    A page read is about a millisecond of SQLite work, no longer than rendering its response, so it
    runs inline on a synchronous engine over the same file (compiled-statement cache and result
    processing kept). WAL lets it run beside the writer; a reader waits for a lock only in rare cases
    (recovery after a crash): it then gives up after :data:`INLINE_BUSY_MS` rather than stall the
    loop, and the caller retries the statement through the async engine.
    """

    def __init__(self, url: str) -> None:
        sync_url = url.replace("sqlite+aiosqlite://", "sqlite://", 1)
        self.engine: Engine = create_engine(
            sync_url,
            pool_size=2,  # one of them held by run_sql
            max_overflow=1,
            json_serializer=dumps,
            json_deserializer=orjson.loads,
        )
        event.listen(self.engine, "connect", _inline_pragmas)
        self._raw: Any = None

    def run(self, statement: Executable) -> Sequence[Row[Any]]:
        with self.engine.connect() as conn:
            return conn.execute(statement).all()

    def run_sql(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """A compiled statement on a DB-API connection of its own: sqlite3's statement cache
        keeps it prepared, nothing of SQLAlchemy runs."""
        if self._raw is None:
            self._raw = self.engine.raw_connection()  # with the pragmas of the pool's connect
        cursor = self._raw.cursor()
        try:
            cursor.execute(sql, params)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
        finally:
            cursor.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()


class _PgReads:
    """The driver's connections of the prepared reads on PostgreSQL (see :meth:`Database.read_prepared`),
    apart from SQLAlchemy's pool.

    A checkout and return through the pool (engine, connection, fairy, greenlet) cost a page read
    ~8 % of the API process's CPU. Here a read takes an idle connection off a list and puts it back:
    at most ``size`` at once (``INBOXSYNC_DB_READ_CONNECTIONS``, 2). The others wait their turn in
    the process, which costs nothing, where the pool's overflow opened a connection for a burst and
    closed it after (a new server process, every statement prepared again), and where ten statements
    at once from each API process left the server's processes fighting them for two cores (p95 of
    list pages at full load 19 ms with two, 22-27 ms with ten: docs/adr/0014). A connection whose
    statement failed or was cancelled is closed, not reused: its state is unknown. One found closed
    when taken again (the server restarted, or ended it) is replaced and the read runs on the next:
    a read is safe to run twice, and a client should not see a 503 for the database's restart."""

    # A read waits at most this long for one of the connections (SQLAlchemy's pool_timeout), and
    # a new connection this long for the server: then a StorageError (503), not a queue that grows
    # for as long as the database does not answer.
    WAIT_S = 30.0
    CONNECT_S = 10.0

    def __init__(self, engine: AsyncEngine, size: int, server_settings: Mapping[str, str]) -> None:
        # The dialect's own translation of the URL (host, port, socket directory, ssl …).
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs.pop("async_fallback", None)
        kwargs.pop("prepared_statement_cache_size", None)
        kwargs.setdefault("timeout", self.CONNECT_S)
        self._connect_args = (tuple(args), {**kwargs, "server_settings": dict(server_settings)})
        self._idle: list[Any] = []
        self._gate = asyncio.Semaphore(size)
        self._closed = False

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of ``sql``; any failure (the server's, the socket's, a refused connection, no
        connection free within :attr:`WAIT_S`) is a :class:`StorageError`."""
        import asyncpg  # type: ignore[import-untyped]

        # What a connection that went away while idle raises (not a statement's own error).
        gone = (asyncpg.ConnectionDoesNotExistError, asyncpg.AdminShutdownError, ConnectionError)
        try:
            async with asyncio.timeout(self.WAIT_S):
                await self._gate.acquire()
        except TimeoutError as exc:
            raise StorageError(
                f"database error: no connection free for {self.WAIT_S:.0f} s"
            ) from exc
        try:
            while True:
                reused = bool(self._idle)
                try:
                    conn = self._idle.pop() if reused else await self._connect()
                except Exception as exc:
                    raise storage_error(exc) from exc
                if conn.is_closed():
                    if reused:
                        continue  # ended while idle (the server restarted): the next one
                    raise StorageError("database error: the server closed a new connection")
                try:
                    rows = await conn.fetch(sql, *params)
                except BaseException as exc:
                    was_gone = conn.is_closed() or isinstance(exc, gone)
                    conn.terminate()
                    if reused and was_gone and isinstance(exc, Exception):
                        continue  # it had gone while idle: a read is safe to run again
                    if isinstance(exc, Exception):  # asyncpg's InternalClientError, OSError …
                        raise storage_error(exc) from exc
                    raise
                if self._closed:
                    conn.terminate()
                else:
                    self._idle.append(conn)
                return [tuple(r) for r in rows]
        finally:
            self._gate.release()

    async def _connect(self) -> Any:
        import asyncpg

        args, kwargs = self._connect_args
        return await asyncpg.connect(*args, **kwargs)

    def close(self) -> None:
        """Drop the idle connections (a read still running drops its own when it ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()


def db_errors() -> tuple[type[BaseException], ...]:
    """What a statement may raise when the database fails (surfaced as :class:`StorageError`).

    The driver's own errors are there because SQLAlchemy lets some through unwrapped: asyncpg
    refusing a new connection ("too many clients") reached a grant's sync as a crash. asyncpg is
    named only once loaded (a process on SQLite never imports it: 40 ms of every start).
    """
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return (SQLAlchemyError,)
    return (SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError)


def storage_error(exc: BaseException) -> StorageError:
    """The :class:`StorageError` a database failure surfaces as."""
    return StorageError(f"database error: {exc.__class__.__name__}: {exc}")


class HeadCache:
    """Immutable values (message heads) by key, the least recently used dropped past ``limit``
    bytes of values."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._values: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        value = self._values.get(key)
        if value is not None:
            self._values.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.limit // 16 or key in self._values:
            return  # a huge body would push out many pages' worth
        self._values[key] = value
        self.size += len(value)
        while self.size > self.limit:
            _, dropped = self._values.popitem(last=False)
            self.size -= len(dropped)


class Database:
    """An async engine plus sessions; ``is_sqlite`` tells the repositories which dialect they face."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        read_connections: int = 2,
        head_cache_bytes: int = 64 << 20,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if not self.is_sqlite and not url.startswith("postgresql+asyncpg://"):
            # The API's reads run on asyncpg's own connections (_PgReads).
            raise ValueError(
                "database URL: sqlite:///… or postgresql://… (run through asyncpg), not "
                + url.split("://", 1)[0]
            )
        # PostgreSQL: message heads this process served, so that they cross the socket once
        # (store/message_json.py). SQLite reads them from its own page cache: none.
        self.heads = (
            HeadCache(head_cache_bytes) if head_cache_bytes and not self.is_sqlite else None
        )
        # (grant id, ``in=`` value) -> (expiry, folder id): see store/queries.resolve_folder.
        self.folder_names: dict[tuple[str, str], tuple[float, str | None]] = {}
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": dumps,
            "json_deserializer": orjson.loads,
        }
        if not self.is_sqlite:
            # No pool_pre_ping: on asyncpg it costs three round trips (BEGIN, ";", ROLLBACK) per
            # checkout, more than an API read itself. A connection that died with the server fails
            # one statement (StorageError: 503 with Retry-After) and the pool drops it.
            kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size)
            kwargs["connect_args"] = {"server_settings": _PG_SETTINGS}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._pg_reads = (
            None if self.is_sqlite else _PgReads(self.engine, read_connections, _PG_READ_SETTINGS)
        )
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._engine_kwargs = kwargs
        self._control: async_sessionmaker[AsyncSession] | None = None
        session_class = type("Session", (Session,), {})
        event.listen(session_class, "after_commit", self._after_commit)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._waiters: set[asyncio.Future[None]] = set()
        self._sqlite_reads: _SqliteReads | None = None
        self._prepared: dict[Hashable, tuple[str, tuple[str, ...], dict[str, Any]]] = {}

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
            except db_errors() as exc:
                await session.rollback()
                raise storage_error(exc) from exc

    @asynccontextmanager
    async def control_transaction(self) -> AsyncIterator[AsyncSession]:
        """A transaction on two connections of their own, for a worker's lease heartbeat and claims.

        A worker running a thousand grants keeps every pooled connection busy with their statements;
        a heartbeat queued behind them came later than three quarters of a lease, so the worker
        stopped every grant (the watchdog's rule), started them again, and never settled.
        """
        if self._control is None:
            kwargs = dict(self._engine_kwargs)
            if not self.is_sqlite:
                kwargs.update(pool_size=2, max_overflow=0)
            engine = create_async_engine(self.url, **kwargs)
            if self.is_sqlite:
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            self._control = async_sessionmaker(engine, expire_on_commit=False)
        async with self._control() as session:
            try:
                async with session.begin():
                    yield session
            except db_errors() as exc:
                raise storage_error(exc) from exc

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only. A read needs no transaction: on PostgreSQL the connection
        is in autocommit, which saves BEGIN and ROLLBACK, two of a list page's four round trips
        (SQLite's driver begins only before a write anyway)."""
        async with self.session() as session:
            if not self.is_sqlite:
                await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside a transaction that commits on success and rolls back on error."""
        async with self.session() as session, session.begin():
            yield session

    async def read(self, statement: Executable) -> Sequence[Row[Any]]:
        """The rows of a read-only statement, outside any session: committed data only.

        The API's hot reads (a page, a find) use it. On SQLite it runs on the event loop's thread
        (:class:`_SqliteReads`); on PostgreSQL on a pooled connection in autocommit (no BEGIN and
        ROLLBACK round trips). Database errors surface as :class:`StorageError`.
        """
        try:
            if self.is_sqlite:
                if self._sqlite_reads is None:
                    self._sqlite_reads = _SqliteReads(self.url)
                try:
                    return self._sqlite_reads.run(statement)
                except OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    # Retry below through aiosqlite, whose connections wait up to 10 s.
            async with self.engine.connect() as conn:
                if not self.is_sqlite:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                return (await conn.execute(statement)).all()
        except db_errors() as exc:
            raise storage_error(exc) from exc

    async def read_prepared(
        self, key: Hashable | None, build: Callable[[], Select[Any]], values: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """The rows (plain tuples) of the read-only statement ``build()`` gives, with its bound
        parameters (``bindparam`` names) taken from ``values``, like :meth:`read` but compiled once
        per ``key`` and run on the driver's own connection: building, caching and executing a
        statement through SQLAlchemy was as costly as a page read itself (docs/adr/0012). Column
        values come raw from the driver (SQLite booleans are 0 and 1). ``build`` must name every
        parameter whose value changes from call to call: an anonymous one keeps its first value.
        ``key`` None: a statement with values of its own (not one shape), built and run by
        :meth:`read` each time.
        """
        if key is None:
            return await self.read(build())
        entry = self._prepared.get(key)
        if entry is None:
            compiled = build().compile(dialect=self.engine.dialect)
            # An anonymous parameter is a constant of the statement's shape (SQLite's OFFSET 0
            # beside a bound LIMIT): its value from this first compilation stays. A named one
            # must be in ``values`` (KeyError otherwise, not a silent NULL).
            first = compiled.params
            constants = {n: first[n] for n, b in compiled.binds.items() if b.unique and n in first}
            entry = (str(compiled), tuple(compiled.positiontup or ()), constants)
            self._prepared[key] = entry
        sql, names, constants = entry
        params = tuple(constants[n] if n in constants else values[n] for n in names)
        errors: tuple[type[BaseException], ...] = (*db_errors(), sqlite3.Error)
        try:
            if self.is_sqlite:
                if self._sqlite_reads is None:
                    self._sqlite_reads = _SqliteReads(self.url)
                try:
                    return list(self._sqlite_reads.run_sql(sql, params))
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                async with self.engine.connect() as conn:  # aiosqlite waits up to 10 s
                    return list((await conn.exec_driver_sql(sql, params)).tuples().all())
            assert self._pg_reads is not None
            return await self._pg_reads.fetch(sql, params)
        except errors as exc:
            raise storage_error(exc) from exc

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
        if self._sqlite_reads is not None:
            reads, self._sqlite_reads = self._sqlite_reads, None
            reads.close()
        if self._pg_reads is not None:
            self._pg_reads.close()
        if self._control is not None:
            control, self._control = self._control, None
            await control.kw["bind"].dispose()
        await self.engine.dispose()
