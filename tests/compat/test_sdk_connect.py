"""The whole product as a new user runs it: `inboxsync serve`, a Dovecot account connected through the
official SDK's custom authentication, mail synced and served, changes on the server followed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nylas import Client
from nylas.models.errors import NylasApiError

from tests.support.corpus import corpus_dir
from tests.support.dovecot import Dovecot
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.dovecot]

KEY = "sdk-connect-key"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "INBOXSYNC_DATA_DIR": str(tmp_path / "data"),
        "INBOXSYNC_API_KEY": KEY,
        "INBOXSYNC_LOG_LEVEL": "WARNING",
    }
    env.pop("INBOXSYNC_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _up(url), "serve answers")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
        assert b"Traceback" not in out, out.decode(errors="replace")[-3000:]


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def until(probe: object, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {within} s: {what}")


def settings(server: Dovecot, password: str | None = None) -> dict[str, object]:
    return {
        "imap_host": server.host,
        "imap_port": server.port,
        "imap_security": "none",
        "imap_username": server.user,
        "imap_password": password or server.password,
    }


def test_connect_sync_and_follow(dovecot: Dovecot, serve: str) -> None:
    paths = sorted(corpus_dir().glob("*.eml"))[:240]
    dovecot.seed_maildir(None, "INBOX", [p.read_bytes() for p in paths[:200]])
    dovecot.seed_maildir(None, "Archive", [p.read_bytes() for p in paths[200:]])
    nylas = Client(api_key=KEY, api_uri=serve)

    with pytest.raises(NylasApiError) as refused:
        nylas.auth.custom_authentication(
            {"provider": "imap", "settings": settings(dovecot, "wrong")}  # type: ignore[typeddict-item]
        )
    assert refused.value.status_code == 401 and "IMAP login" in str(refused.value)
    assert nylas.grants.list().data == []

    grant = nylas.auth.custom_authentication(
        {"provider": "imap", "settings": settings(dovecot)}  # type: ignore[typeddict-item]
    ).data
    assert grant.provider == "imap" and grant.grant_status == "valid"
    assert "imap_password" not in (grant.settings or {})

    def synced() -> bool:
        status = httpx.get(
            f"{serve}/v3/grants/{grant.id}/sync", headers={"Authorization": f"Bearer {KEY}"}
        ).json()["data"]
        return bool(status["initial_sync_complete"]) and status["messages_synced"] == 240

    until(synced, "all 240 messages synced")
    page = nylas.messages.list(grant.id, query_params={"limit": 50}).data
    assert len(page) == 50
    dates = [m.date for m in page]
    assert dates == sorted(dates, reverse=True) or len(set(dates)) > 1

    # Another client files a message away and new mail arrives: both show through the SDK.
    with dovecot.admin() as admin:
        admin.append(
            "INBOX", b"Subject: fresh\r\nMessage-ID: <fresh@x>\r\nFrom: a@b.c\r\n\r\nhi\r\n"
        )
    until(
        lambda: any(
            m.subject == "fresh"
            for m in nylas.messages.list(grant.id, query_params={"limit": 5}).data
        ),
        "new mail visible",
    )
    again = nylas.auth.custom_authentication(
        {"provider": "imap", "settings": settings(dovecot)}  # type: ignore[typeddict-item]
    ).data
    assert again.id == grant.id  # connecting the same account re-authenticates its grant
