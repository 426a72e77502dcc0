"""``POST /v3/connect/custom`` and ``GET /v3/grants/{id}/sync`` against a real Dovecot."""

from __future__ import annotations

import pytest

from inboxsync.runtime import Runtime
from inboxsync.store import grants
from inboxsync.sync.deps import SyncDeps
from inboxsync.sync.imap.account import ImapGrantSync
from tests.compat.harness import api_runtime, asgi_client
from tests.support.dovecot import Dovecot

__all__ = ["api_runtime"]


def settings(server: Dovecot, **overrides: object) -> dict[str, object]:
    return {
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": server.user,
        "imap_password": server.password,
        **overrides,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"provider": "imap", "settings": {}}, "imap_host is required"),
        ({"provider": "imap", "settings": {"imap_host": "h", "imap_port": "x"}}, "imap_port"),
        ({"provider": "pop3", "settings": {}}, "provider"),
        ({"settings": {}}, "provider"),
        (
            {
                "provider": "imap",
                "settings": {
                    "imap_host": "mail.example.com",
                    "imap_security": "none",
                    "imap_username": "u",
                    "imap_password": "p",
                },
            },
            "loopback",
        ),
    ],
)
async def test_bad_settings_are_400(
    api_runtime: Runtime, body: dict[str, object], message: str
) -> None:
    async with asgi_client(api_runtime) as client:
        response = await client.post("/v3/connect/custom", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


@pytest.mark.dovecot
async def test_connect_wrong_password_stores_nothing(
    api_runtime: Runtime, dovecot: Dovecot
) -> None:
    async with asgi_client(api_runtime) as client:
        body = {"provider": "imap", "settings": settings(dovecot, imap_password="nope")}
        response = await client.post("/v3/connect/custom", json=body)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "api.authentication_error"
        unreachable = {"provider": "imap", "settings": settings(dovecot, imap_port=1)}
        response = await client.post("/v3/connect/custom", json=unreachable)
        assert response.status_code == 504, response.text
    async with api_runtime.db.session() as session:
        assert await grants.list_(session) == []


@pytest.mark.dovecot
async def test_connect_then_sync_status(api_runtime: Runtime, dovecot: Dovecot) -> None:
    with dovecot.admin() as admin:
        admin.append("INBOX", b"Subject: hello\r\nMessage-ID: <h@x>\r\n\r\nhi\r\n")
    async with asgi_client(api_runtime) as client:
        response = await client.post(
            "/v3/connect/custom", json={"provider": "imap", "settings": settings(dovecot)}
        )
        assert response.status_code == 200, response.text
        grant = response.json()["data"]
        assert grant["provider"] == "imap" and "imap_password" not in grant["settings"]
        status = (await client.get(f"/v3/grants/{grant['id']}/sync")).json()["data"]
        assert status["state"] == "running" and not status["initial_sync_complete"]

        deps = SyncDeps(db=api_runtime.db, blobs=api_runtime.blobs, sealer=api_runtime.sealer)
        try:
            await ImapGrantSync(deps, grant["id"]).run_once()
        finally:
            deps.parser.close()
        status = (await client.get(f"/v3/grants/{grant['id']}/sync")).json()["data"]
        assert status["initial_sync_complete"] and status["messages_synced"] == 1
        inbox = next(f for f in status["folders"] if f["role"] == "inbox")
        assert inbox["total"] == inbox["synced"] == 1
        assert (await client.get("/v3/grants/nope/sync")).status_code == 404


@pytest.mark.dovecot
async def test_application_keys_may_not_reach_private_hosts(
    api_runtime: Runtime, dovecot: Dovecot
) -> None:
    """Only the operator connects accounts on the server's own network (connect is no port scanner)."""
    from inboxsync.store import api_keys

    async with api_runtime.db.transaction() as session:
        _, key = await api_keys.create(session, "an application")
    async with asgi_client(api_runtime, key) as client:
        response = await client.post(
            "/v3/connect/custom", json={"provider": "imap", "settings": settings(dovecot)}
        )
    assert response.status_code == 400
    assert "private network" in response.json()["error"]["message"]
    api_runtime.settings.allow_private_mail_hosts = True
    try:
        async with asgi_client(api_runtime, key) as client:
            response = await client.post(
                "/v3/connect/custom", json={"provider": "imap", "settings": settings(dovecot)}
            )
        assert response.status_code == 200, response.text
    finally:
        api_runtime.settings.allow_private_mail_hosts = False


async def test_an_application_account_stays_public_only_after_connect(
    api_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connect check resolves the host once; the grant remembers that it may only reach public
    addresses, so a later DNS answer pointing at this network (rebinding) is refused by sync."""
    import ipaddress

    from inboxsync.api.routes import connect
    from inboxsync.core import netguard
    from inboxsync.core.accounts import ImapAccount
    from inboxsync.store import api_keys
    from inboxsync.sync.imap.session import open_client

    answer = [ipaddress.ip_address("8.8.8.8")]

    async def resolve(host: str, port: int) -> list[netguard.Address]:
        return list(answer)

    async def login_ok(account: ImapAccount) -> None:
        assert account.imap.public_only

    monkeypatch.setattr(netguard, "resolve", resolve)
    monkeypatch.setattr(connect, "check_login", login_ok)
    async with api_runtime.db.transaction() as session:
        _, key = await api_keys.create(session, "an application")
    body = {
        "provider": "imap",
        "settings": {
            "imap_host": "mail.rebind.test",
            "imap_username": "u@rebind.test",
            "imap_password": "secret",
        },
    }
    async with asgi_client(api_runtime, key) as client:
        response = await client.post("/v3/connect/custom", json=body)
    assert response.status_code == 200, response.text
    assert "public_only" not in response.json()["data"]["settings"]
    async with api_runtime.db.session() as session:
        grant = await grants.get(session, response.json()["data"]["id"])
    account = ImapAccount.from_stored(
        grant.email, grant.settings, api_runtime.sealer.open(grant.credentials)
    )
    assert account.imap.public_only
    answer[:] = [ipaddress.ip_address("127.0.0.1")]  # the name now points at this server
    with pytest.raises(netguard.NotPublic):
        await open_client(account)
