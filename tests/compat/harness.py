"""Fixtures for the API tests: a runtime on SQLite or PostgreSQL, a seeded grant, clients.

Import the fixtures you use into a test module (``from tests.compat.harness import ...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store.migrate import upgrade
from tests.compat.seed import Seeded, seed_grant
from tests.support.database import create_pg_database, drop_pg_database, pg_url

OPERATOR_KEY = "operator-key"
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def make_runtime(data_dir: Path, database_url: str | None = None) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        api_key=SecretStr(OPERATOR_KEY),
        database_url=database_url,
        durable_writes=False,
    )
    return Runtime.from_settings(settings)


@pytest.fixture
async def api_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A migrated runtime on SQLite."""
    runtime = make_runtime(tmp_path)
    await upgrade(runtime.db)
    yield runtime
    await runtime.close()


@asynccontextmanager
async def pg_runtime_in(data_dir: Path) -> AsyncIterator[Runtime]:
    """A migrated runtime on a PostgreSQL database of its own, dropped after."""
    name = await create_pg_database()
    runtime = make_runtime(data_dir, pg_url(name))
    try:
        await upgrade(runtime.db)
        yield runtime
    finally:
        await runtime.close()
        await drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A migrated runtime on each backend."""
    if request.param == "sqlite":
        runtime = make_runtime(tmp_path)
        await upgrade(runtime.db)
        yield runtime
        await runtime.close()
        return
    async with pg_runtime_in(tmp_path) as runtime:
        yield runtime


@pytest.fixture
async def pg_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A migrated runtime on PostgreSQL."""
    async with pg_runtime_in(tmp_path) as runtime:
        yield runtime


@pytest.fixture
async def seeded_client(any_runtime: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, Seeded]]:
    """A grant of 120 corpus messages on each backend, and an in-process client of the API."""
    seeded = await seed_grant(any_runtime, count=120)
    async with asgi_client(any_runtime) as client:
        yield client, seeded


async def all_pages(client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[Any]:
    """Every item of a list, page after page (``next_cursor``), each page answered 200."""
    out: list[Any] = []
    token = None
    while True:
        page = await client.get(url, params={**params, "page_token": token} if token else params)
        assert page.status_code == 200, page.text
        body = page.json()
        out.extend(body["data"])
        token = body["next_cursor"]
        if not token:
            return out


@pytest.fixture
async def seeded(api_runtime: Runtime) -> Seeded:
    return await seed_grant(api_runtime, count=80)


@pytest.fixture
async def client(api_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(api_runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as c:
        yield c


def asgi_client(runtime: Runtime, key: str = OPERATOR_KEY) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime))
    return httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {key}"}
    )
