"""``inboxsync api --workers 2``: two API processes on one port, started and stopped as one, each
with a listening socket of its own so that connections spread over both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from click.testing import CliRunner

from inboxsync.cli.main import cli
from tests.support.ports import free_port

ENV = {k: v for k, v in os.environ.items() if not k.startswith("INBOXSYNC_")}


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


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _start(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    assert CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    args = ["--data-dir", str(tmp_path), "--port", str(port), "--api-key", "k", "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "api", *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            return proc
        except httpx.TransportError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)


def _workers(proc: subprocess.Popen[bytes], count: int = 2) -> list[int]:
    deadline = time.monotonic() + 60
    while True:  # the second process may still be starting when the first answers
        found = [c for c in _children(proc.pid) if b"spawn_main" in _cmdline(c)]
        if len(found) == count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> bytes:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err


def test_two_workers_serve_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        with httpx.Client(headers={"Authorization": "Bearer k"}) as client:
            for _ in range(10):  # the key and the data dir given as options reach every worker
                grants = client.get(f"http://127.0.0.1:{port}/v3/grants")
                assert grants.status_code == 200 and grants.json()["data"] == []
                assert grants.headers["x-request-id"] == grants.json()["request_id"]
        assert httpx.get(f"http://127.0.0.1:{port}/v3/grants").status_code == 401
        workers = _workers(proc)
        assert len(workers) == 2
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err
    assert not [c for c in workers if Path(f"/proc/{c}").exists()]


def _established_by_process(pids: list[int], port: int) -> Counter[int]:
    """How many established connections to ``port`` each process holds (from /proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
            inodes.add(fields[9])
    held: Counter[int] = Counter()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] += 1
    return held


def test_keep_alive_connections_spread_over_the_workers(tmp_path: Path) -> None:
    # With one shared listening socket, 36 of 40 keep-alive connections went to one process.
    # With a socket each, the kernel picks one by a hash of the connection's addresses: below 8
    # of 40 on either happens about once in 40,000 runs.
    port = free_port()
    proc = _start(tmp_path, port)
    conns: list[socket.socket] = []
    try:
        workers = _workers(proc)
        assert len(workers) == 2
        for _ in range(40):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(100).startswith(b"HTTP/1.1 200")  # accepted and answered
            conns.append(conn)
        held = _established_by_process(workers, port)
        assert sum(held.values()) == 40, held
        assert min(held[w] for w in workers) >= 8, held
    finally:
        for conn in conns:
            conn.close()
        _stop(proc)
    assert proc.returncode == 0


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        first = _workers(proc)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            now = _workers(proc)
            if len(now) == 2 and first[0] not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.1)
        for _ in range(10):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        err = _stop(proc)
    assert proc.returncode == 0, err


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["migrate", "--data-dir", str(tmp_path)]).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["--data-dir", str(tmp_path), "--port", str(port), "--workers", "2"]
        done = subprocess.run(
            [sys.executable, "-m", "inboxsync.cli", "api", *args],
            env=ENV,
            capture_output=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert b"cannot listen on 127.0.0.1:" in done.stderr
    assert b"Traceback" not in done.stderr
