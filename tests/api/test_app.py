"""The application shell: health, the error envelope, authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from inboxsync.api.app import create_app
from inboxsync.api.deps import PrincipalDep
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import api_keys
from inboxsync.store.migrate import upgrade


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = Runtime.from_settings(Settings(data_dir=tmp_path, api_key=SecretStr("operator-key")))
    await upgrade(rt.db)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime)

    @app.get("/v3/whoami")
    async def whoami(principal: PrincipalDep) -> dict[str, str | None]:
        return {"api_key_id": principal.api_key_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_health_has_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v3/health")
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["status"] == "ok"
    assert body["request_id"] == response.headers["x-request-id"]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v3/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["type"] == "api.not_found_error"
    assert body["request_id"]


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic abc", "Bearer wrong-key", "Bearer isk_forged"]
)
async def test_bad_credentials_are_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/v3/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "api.authentication_error"


async def test_operator_and_stored_keys(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await client.get("/v3/whoami", headers={"Authorization": "Bearer operator-key"})
    assert response.json() == {"api_key_id": None}
    async with runtime.db.transaction() as session:
        row, key = await api_keys.create(session, "app")
    response = await client.get("/v3/whoami", headers={"Authorization": f"Bearer {key}"})
    assert response.json() == {"api_key_id": row.id}
