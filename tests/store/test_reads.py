"""``Database.read``: the API's hot reads outside any session."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Float, String, bindparam, func, select, text
from sqlalchemy.exc import OperationalError

from inboxsync.errors import StorageError
from inboxsync.store import db as db_module
from inboxsync.store.db import Database
from inboxsync.store.models import ApiKey


async def _add_key(database: Database) -> None:
    async with database.transaction() as session:
        session.add(ApiKey(id="k1", name="app", key_hash="h" * 64, prefix="isk_", created_at=1))


async def test_reads_see_committed_rows_on_both_databases(database: Database) -> None:
    assert list(await database.read(select(ApiKey.id))) == []
    await _add_key(database)
    rows = await database.read(select(ApiKey.id, ApiKey.name))
    assert [tuple(r) for r in rows] == [("k1", "app")]


async def test_sqlite_reads_are_read_only(sqlite_database: Database) -> None:
    await sqlite_database.read(select(ApiKey.id))
    reads = sqlite_database._sqlite_reads
    assert reads is not None
    with reads.engine.connect() as conn, pytest.raises(OperationalError, match="readonly"):
        conn.exec_driver_sql("DELETE FROM api_keys")


async def test_sqlite_reads_map_the_file(sqlite_database: Database) -> None:
    """The inline reads take pages from a memory map of the file (no read() per page)."""
    await sqlite_database.read(select(ApiKey.id))
    reads = sqlite_database._sqlite_reads
    assert reads is not None
    with reads.engine.connect() as conn:
        mapped = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    assert mapped is not None and mapped >= 1 << 30


async def test_a_busy_sqlite_file_is_read_again_through_the_async_engine(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inline read that meets a lock (rare in WAL: recovery after a crash) gives up after
    INLINE_BUSY_MS; the statement then runs through aiosqlite, which may wait its 10 s."""
    await _add_key(sqlite_database)
    await sqlite_database.read(select(ApiKey.id))
    calls: list[str] = []

    def busy(self: Any, statement: Any) -> Any:
        calls.append("inline")
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(db_module._SqliteReads, "run", busy)
    rows = await sqlite_database.read(select(ApiKey.id))
    assert calls == ["inline"] and [r[0] for r in rows] == ["k1"]

    def broken(self: Any, statement: Any) -> Any:
        raise OperationalError("SELECT", {}, Exception("no such table: nothing"))

    monkeypatch.setattr(db_module._SqliteReads, "run", broken)
    with pytest.raises(StorageError, match="no such table"):
        await sqlite_database.read(select(ApiKey.id))


async def test_a_driver_error_sqlalchemy_lets_through_is_a_storage_error(
    sqlite_database: Database,
) -> None:
    """asyncpg refusing a new connection is not wrapped by SQLAlchemy: it must still reach the sync
    as a StorageError (retried with backoff), not as an unknown error that ends the grant's task."""
    import asyncpg  # type: ignore[import-untyped]

    with pytest.raises(StorageError, match="too many clients"):
        async with sqlite_database.session():
            raise asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")


def _key_query() -> Any:
    return select(ApiKey.id, ApiKey.name).where(ApiKey.id == bindparam("id", type_=String))


async def test_prepared_reads_on_both_databases(database: Database) -> None:
    await _add_key(database)
    for _ in range(3):  # compiled once, run again with other values
        assert await database.read_prepared("key", _key_query, {"id": "k1"}) == [("k1", "app")]
        assert await database.read_prepared("key", _key_query, {"id": "nope"}) == []
    with pytest.raises(KeyError):  # a named parameter without a value is a bug, not a None
        await database.read_prepared("key", _key_query, {})


async def test_a_prepared_read_on_a_busy_sqlite_file_runs_again_through_the_async_engine(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _add_key(sqlite_database)
    await sqlite_database.read_prepared("key", _key_query, {"id": "k1"})

    def busy(self: Any, sql: str, params: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(db_module._SqliteReads, "run_sql", busy)
    assert await sqlite_database.read_prepared("key", _key_query, {"id": "k1"}) == [("k1", "app")]

    def broken(self: Any, sql: str, params: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(db_module._SqliteReads, "run_sql", broken)
    with pytest.raises(StorageError, match="disk I/O error"):
        await sqlite_database.read_prepared("key", _key_query, {"id": "k1"})


def _sleep_then_pid() -> Any:
    return select(func.pg_backend_pid(), func.pg_sleep(bindparam("seconds", type_=Float)))


@pytest.mark.postgres
async def test_prepared_reads_outlive_their_connections_ended_by_the_server(
    pg_database: Database,
) -> None:
    """The prepared reads run on connections of their own; when the server ends one while it is
    idle (a restart), the next read finds it gone and runs on a new one: no read fails."""
    import asyncpg  # type: ignore[import-untyped]

    await _add_key(pg_database)
    both = await asyncio.gather(  # two reads at once: both connections opened
        *(pg_database.read_prepared("sleep", _sleep_then_pid, {"seconds": 0.05}) for _ in "ab")
    )
    pids = {rows[0][0] for rows in both}
    assert len(pids) == 2
    other = await asyncpg.connect(pg_database.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for pid in pids:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await other.close()
    for _ in range(5):
        assert await pg_database.read_prepared("key", _key_query, {"id": "k1"}) == [("k1", "app")]


@pytest.mark.postgres
async def test_prepared_reads_keep_to_their_connections_and_reuse_them(
    pg_database: Database,
) -> None:
    """A burst of reads beyond their connections waits its turn on the same ones: none is
    opened for the burst and closed after (a new server process, every statement prepared again)."""
    small = Database(pg_database.url, read_connections=2)
    try:

        async def one() -> int:
            rows = await small.read_prepared("sleep", _sleep_then_pid, {"seconds": 0.05})
            return int(rows[0][0])

        first = set(await asyncio.gather(*(one() for _ in range(8))))
        again = set(await asyncio.gather(*(one() for _ in range(8))))
        assert len(first) == 2 and again == first
    finally:
        await small.close()


@pytest.mark.postgres
async def test_a_cancelled_prepared_read_does_not_hand_its_connection_on(
    pg_database: Database,
) -> None:
    """A read cancelled mid-statement (the client went away) leaves its connection in an unknown
    state: it is closed, and the next read gets another one that answers."""
    small = Database(pg_database.url, read_connections=1)
    try:
        before = await small.read_prepared("sleep", _sleep_then_pid, {"seconds": 0})
        slow = asyncio.create_task(small.read_prepared("sleep", _sleep_then_pid, {"seconds": 5}))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        after = await asyncio.wait_for(
            small.read_prepared("sleep", _sleep_then_pid, {"seconds": 0}), 3
        )
        assert after[0][0] != before[0][0]
    finally:
        await small.close()


@pytest.mark.postgres
async def test_a_prepared_read_on_a_database_that_refuses_is_a_storage_error() -> None:
    """Nothing listens: the read fails at once as a StorageError (the API's 503), no retry loop."""
    from tests.support.ports import free_port

    nowhere = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    try:
        with pytest.raises(StorageError):
            await asyncio.wait_for(nowhere.read_prepared("key", _key_query, {"id": "k1"}), 10)
    finally:
        await nowhere.close()


@pytest.mark.postgres
async def test_a_failing_statement_on_a_reused_connection_is_not_run_again(
    pg_database: Database,
) -> None:
    """Only a connection found gone is replaced and the read run again; a statement the server
    refuses is the caller's StorageError at once."""
    await pg_database.read_prepared("key", _key_query, {"id": "k1"})  # a connection to reuse
    calls = 0

    def failing() -> Any:
        nonlocal calls
        calls += 1
        return select(func.sqrt(bindparam("x", type_=Float)))

    with pytest.raises(StorageError, match="square root of a negative"):
        await pg_database.read_prepared("sqrt", failing, {"x": -1.0})
    assert calls == 1
    assert await pg_database.read_prepared("key", _key_query, {"id": "k1"}) == []


@pytest.mark.postgres
async def test_prepared_reads_are_planned_once_not_at_every_execution(
    pg_database: Database,
) -> None:
    """Under the default plan cache mode the server planned an ``in=`` page again at each
    execution (its generic plan's estimate looked worse): a third of the statement's time."""
    from inboxsync.store.queries import MessageFilter, message_page_json

    for _ in range(8):  # one after the other: each takes the connection the last one gave back
        await message_page_json(pg_database, "g1", MessageFilter(folder_id="f1"), 50, None)
    plans = await pg_database.read_prepared(
        "plans",
        lambda: text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%FROM message_folders%' AND statement NOT LIKE '%plans%'"
        ).columns(),
        {},
    )
    assert [tuple(p) for p in plans] == [(8, 0)]
