"""``inboxsync api``: the API alone, as a process; it refuses a database that is not migrated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from inboxsync.cli.main import cli
from tests.support.ports import free_port


def test_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["api", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "run `inboxsync migrate` first" in result.output


def test_serves_until_sigterm(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    port = free_port()
    env = {**os.environ, "INBOXSYNC_LOG_FORMAT": "json"}
    args = ["--data-dir", str(tmp_path), "--port", str(port), "--api-key", "k"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "api", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert ready.status_code == 200
        grants = httpx.get(
            f"http://127.0.0.1:{port}/v3/grants", headers={"Authorization": "Bearer k"}
        )
        assert grants.status_code == 200 and grants.json()["data"] == []
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert 'route="/v3/grants"' in metrics.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert b'"level": "info"' in err  # INBOXSYNC_LOG_FORMAT=json reached uvicorn's lines too
