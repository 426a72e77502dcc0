"""``inboxsync api --workers 2``: whichever process answers ``/metrics``, it counts both processes."""

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
from tests.observability.test_metrics import parse, value
from tests.support.ports import free_port


def test_metrics_sum_over_api_workers(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    port = free_port()
    args = ["--data-dir", str(tmp_path), "--port", str(port), "--api-key", "k", "--workers", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INBOXSYNC_", "PROMETHEUS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "api", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        for _ in range(40):  # new connections: the kernel spreads them over both processes
            with httpx.Client() as client:
                r = client.get(f"{base}/v3/grants", headers={"Authorization": "Bearer k"})
                assert r.status_code == 200
        name = "inboxsync_http_request_duration_seconds_count"
        labels = {"method": "GET", "route": "/v3/grants", "status": "200"}
        seen = set()
        for _ in range(10):
            with httpx.Client() as client:
                seen.add(value(parse(client.get(f"{base}/metrics").text), name, **labels))
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert seen == {40.0}
