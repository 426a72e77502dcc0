"""``/healthz`` and ``/readyz``: alive, and ready only with a reachable database at the current schema."""

from __future__ import annotations

from pathlib import Path

import httpx

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store.migrate import HEAD, downgrade, upgrade


async def get(runtime: Runtime, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_readyz_follows_the_migrations(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path))
    try:
        response = await get(runtime, "/readyz")  # never migrated
        assert response.status_code == 503
        assert response.json()["reason"] == "migrations"
        assert "revision none" in response.json()["message"]
        assert (await get(runtime, "/healthz")).json() == {"status": "ok"}  # alive all the same

        await upgrade(runtime.db)
        assert (await get(runtime, "/readyz")).json() == {"status": "ok"}

        behind = f"{int(HEAD) - 1:04d}"
        await downgrade(runtime.db, behind)
        response = await get(runtime, "/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable" and body["reason"] == "migrations"
        assert f"revision {behind}" in body["message"] and "inboxsync migrate" in body["message"]

        await upgrade(runtime.db)
        assert (await get(runtime, "/readyz")).status_code == 200
    finally:
        await runtime.close()


async def test_readyz_without_a_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://nobody@127.0.0.1:1/none")
    runtime = Runtime.from_settings(settings)
    try:
        response = await get(runtime, "/readyz")
        assert response.status_code == 503
        assert response.json()["reason"] == "database"
        assert (await get(runtime, "/healthz")).status_code == 200
        metrics = await get(runtime, "/metrics")  # still answers, and says the database is down
        assert metrics.status_code == 200
        assert "inboxsync_database_up 0.0" in metrics.text
    finally:
        await runtime.close()
