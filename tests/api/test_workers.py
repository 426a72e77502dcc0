"""``inboxsync api --workers 2``: two API processes on one port, started and stopped as one."""

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


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_two_workers_serve_and_stop_together(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    port = free_port()
    args = ["--data-dir", str(tmp_path), "--port", str(port), "--api-key", "k", "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXSYNC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "api", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        with httpx.Client(headers={"Authorization": "Bearer k"}) as client:
            for _ in range(10):  # the key and the data dir given as options reach every worker
                grants = client.get(f"http://127.0.0.1:{port}/v3/grants")
                assert grants.status_code == 200 and grants.json()["data"] == []
                assert grants.headers["x-request-id"] == grants.json()["request_id"]
        assert httpx.get(f"http://127.0.0.1:{port}/v3/grants").status_code == 401
        workers = [c for c in _children(proc.pid) if b"spawn_main" in _cmdline(c)]
        assert len(workers) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not [c for c in workers if Path(f"/proc/{c}").exists()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
