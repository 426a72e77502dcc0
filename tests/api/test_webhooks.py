"""``/v3/webhooks``: challenge on create, secret once, rotate, status, SSRF guard, the SDK's models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from nylas.models.webhooks import Webhook as SdkWebhook
from nylas.models.webhooks import WebhookWithSecret
from pydantic import SecretStr

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store import api_keys
from inboxsync.store.migrate import upgrade
from tests.events.receiver import Receiver

AUTH = {"Authorization": "Bearer operator-key"}


async def _client(tmp_path: Path, allow_private: bool) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        api_key=SecretStr("operator-key"),
        webhook_allow_private=allow_private,
        durable_writes=False,
    )
    runtime = Runtime.from_settings(settings)
    await upgrade(runtime.db)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        c.runtime = runtime  # type: ignore[attr-defined]  # handy in tests
        yield c
    await runtime.close()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, True):
        yield c


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(tmp_path, False):
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def create(client: httpx.AsyncClient, url: str, **extra: object) -> httpx.Response:
    body = {"trigger_types": ["message.created", "grant.expired"], "webhook_url": url, **extra}
    return await client.post("/v3/webhooks", json=body, headers=AUTH)


async def test_crud_with_challenge(client: httpx.AsyncClient, receiver: Receiver) -> None:
    response = await create(client, receiver.url, description="crm")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert receiver.challenges == 1
    assert len(data["webhook_secret"]) == 64 and int(data["webhook_secret"], 16) >= 0
    made = WebhookWithSecret.from_dict(data)  # every required key, enum trigger names
    assert made.status == "active" and made.description == "crm"
    hook_id = data["id"]

    found = (await client.get(f"/v3/webhooks/{hook_id}", headers=AUTH)).json()["data"]
    assert "webhook_secret" not in found
    SdkWebhook.from_dict(found)
    listed = (await client.get("/v3/webhooks", headers=AUTH)).json()
    assert [w["id"] for w in listed["data"]] == [hook_id] and listed["next_cursor"] is None

    updated = await client.put(
        f"/v3/webhooks/{hook_id}",
        json={"trigger_types": ["folder.created"], "status": "pause"},
        headers=AUTH,
    )
    assert updated.json()["data"]["status"] == "pause"
    assert updated.json()["data"]["trigger_types"] == ["folder.created"]
    again = await client.put(f"/v3/webhooks/{hook_id}", json={"status": "active"}, headers=AUTH)
    assert again.json()["data"]["status"] == "active"
    assert receiver.challenges == 2  # re-activation repeats the handshake

    rotated = await client.put(f"/v3/webhooks/{hook_id}/rotate-secret", json={}, headers=AUTH)
    new_secret = rotated.json()["data"]["webhook_secret"]
    assert new_secret != data["webhook_secret"] and len(new_secret) == 64

    ips = (await client.get("/v3/webhooks/ip-addresses", headers=AUTH)).json()["data"]
    assert ips["ip_addresses"] == [] and isinstance(ips["updated_at"], int)

    gone = await client.delete(f"/v3/webhooks/{hook_id}", headers=AUTH)
    assert gone.json()["data"] == {"status": "success"}
    assert (await client.get(f"/v3/webhooks/{hook_id}", headers=AUTH)).status_code == 404


async def test_challenge_must_be_echoed(client: httpx.AsyncClient) -> None:
    wrong = Receiver()
    await wrong.start()
    await wrong.stop()  # nobody listens there now
    response = await create(client, wrong.url)
    assert response.status_code == 400
    assert "challenge" in response.json()["error"]["message"]
    assert (await client.get("/v3/webhooks", headers=AUTH)).json()["data"] == []


async def test_bad_bodies(client: httpx.AsyncClient, receiver: Receiver) -> None:
    response = await create(client, receiver.url, trigger_types=["message.created.truncated"])
    assert response.status_code == 400
    response = await client.post("/v3/webhooks", json={"webhook_url": "ftp://x"}, headers=AUTH)
    assert response.status_code == 400
    response = await create(client, "ftp://example.com/")
    assert response.status_code == 400
    made = (await create(client, receiver.url)).json()["data"]
    response = await client.put(
        f"/v3/webhooks/{made['id']}", json={"status": "failed"}, headers=AUTH
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
    ],
)
async def test_private_addresses_refused(guarded: httpx.AsyncClient, url: str) -> None:
    response = await create(guarded, url)
    assert response.status_code == 400
    assert "non-public" in response.json()["error"]["message"]


async def test_keys_see_their_own(client: httpx.AsyncClient, receiver: Receiver) -> None:
    runtime: Runtime = client.runtime  # type: ignore[attr-defined]  # set by the fixture
    async with runtime.db.transaction() as session:
        _, key = await api_keys.create(session, "app")
    mine = {"Authorization": f"Bearer {key}"}
    made = (await create(client, receiver.url)).json()["data"]
    assert (await client.get("/v3/webhooks", headers=mine)).json()["data"] == []
    assert (await client.get(f"/v3/webhooks/{made['id']}", headers=mine)).status_code == 404
