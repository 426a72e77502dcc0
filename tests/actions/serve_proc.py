"""``inboxsync serve`` as a subprocess over a data directory, with a grant on Dovecot + the sink."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.dovecot import Dovecot
from tests.support.ports import free_port
from tests.support.smtp import SmtpSink

KEY = "serve-send-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wait(probe: Callable[[], Any], what: str, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


class Serve:
    """Start, kill and restart ``inboxsync serve`` on one port and one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        full = {
            **os.environ,
            "INBOXSYNC_DATA_DIR": str(self.data_dir),
            "INBOXSYNC_API_KEY": KEY,
            "INBOXSYNC_LOG_LEVEL": "WARNING",
            "INBOXSYNC_DURABLE_WRITES": "0",
            **env,
        }
        full.pop("INBOXSYNC_DATABASE_URL", None)
        if "INBOXSYNC_TEST_CRASH_AT" not in env:
            full.pop("INBOXSYNC_TEST_CRASH_AT", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inboxsync.cli", "serve", "--port", str(self.port)],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait(self._up, "serve answers")

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def wait_dead(self) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def connect(self, server: Dovecot, sink: SmtpSink) -> str:
        settings = {
            "email": f"{server.user}@example.com",
            "imap_host": server.host,
            "imap_port": server.port,
            "imap_security": "none",
            "imap_username": server.user,
            "imap_password": server.password,
            "smtp_host": sink.host,
            "smtp_port": sink.port,
            "smtp_security": "none",
            "smtp_username": sink.username or "anyone",
            "smtp_password": sink.password or "x",
        }
        answer = httpx.post(
            f"{self.url}/v3/connect/custom",
            json={"provider": "imap", "settings": settings},
            headers=AUTH,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        grant_id: str = answer.json()["data"]["id"]
        wait(lambda: self.status(grant_id)["initial_sync_complete"], "first sync")
        return grant_id

    def status(self, grant_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/v3/grants/{grant_id}/sync", headers=AUTH, timeout=10)
        data: dict[str, Any] = answer.json()["data"]
        return data
