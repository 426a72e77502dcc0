"""``database`` fixture: every store test runs on SQLite and on PostgreSQL.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth); each test gets its own database, created
and dropped here. In CI (``CI=true``) a missing PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from inboxsync.store.db import Database
from inboxsync.store.migrate import upgrade

PG_DSN = os.environ.get("INBOXSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create_pg_database() -> str:
    """Create an empty PostgreSQL database and return its name (skip, or fail in CI, if none)."""
    name = f"inboxsync_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_DSN}: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no tables, on each backend."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        yield db
        await db.close()
        return
    name = await create_pg_database()
    db = Database(pg_url(name))
    try:
        yield db
    finally:
        await db.close()
        await drop_pg_database(name)


@pytest.fixture
async def database(empty_database: Database) -> Database:
    """A migrated database, on each backend."""
    await upgrade(empty_database)
    return empty_database


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database only (for tests that do not depend on the backend)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await upgrade(db)
    yield db
    await db.close()


@pytest.fixture
async def pg_database() -> AsyncIterator[Database]:
    """A migrated PostgreSQL database only (for behaviour SQLite cannot have)."""
    name = await create_pg_database()
    db = Database(pg_url(name))
    try:
        await upgrade(db)
        yield db
    finally:
        await db.close()
        await drop_pg_database(name)
