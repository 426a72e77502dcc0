"""The command line: --help everywhere, version, migrate, and serve as a whole process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from inboxsync import __version__
from inboxsync.cli.main import cli
from tests.support.database import PG_DSN
from tests.support.ports import free_port


@pytest.mark.parametrize("command", [[], ["serve"], ["migrate"], ["version"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["version"])
    assert result.output.strip() == f"inboxsync {__version__}"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://postgres@127.0.0.1:{port}/nothing", "ConnectionRefusedError"),
        ("{as_no_such_role}", 'role "no_such_role_here"'),
        ("{server}/no_such_database_here", "does not exist"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_not_a_traceback(
    tmp_path: Path, url: str, said: str
) -> None:
    server = PG_DSN.rsplit("/", 1)[0]  # the test server, wherever INBOXSYNC_TEST_PG puts it
    as_no_such_role = re.sub(r"//([^@/]*@)?", "//no_such_role_here@", PG_DSN, count=1)
    database_url = url.format(port=free_port(), server=server, as_no_such_role=as_no_such_role)
    result = CliRunner().invoke(
        cli, ["migrate", "--data-dir", str(tmp_path), "--database-url", database_url]
    )
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: database") and said in result.output, result.output
    assert "Traceback" not in result.output


def test_migrate_up_down(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["migrate", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output and "None" not in result.output
    result = runner.invoke(cli, ["migrate", "--data-dir", str(tmp_path), "--revision", "base"])
    assert result.exit_code == 0, result.output
    assert "database at revision None" in result.output


def test_bad_setting_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--data-dir", str(tmp_path), "--port", "99999"], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert "port" in result.output


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INBOXSYNC_DATA_DIR": str(data_dir)}
    env.pop("INBOXSYNC_API_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_healthy(
    port: int, proc: subprocess.Popen[bytes], within: float = 60.0
) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/v3/health", timeout=1)
            return dict(response.json())
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not answer /v3/health within 60 s")


@pytest.mark.slow
def test_serve_starts_answers_stops_and_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for attempt in range(2):
        port = free_port()
        proc = _start(data_dir, port)
        try:
            body = _wait_healthy(port, proc)
            assert body["data"] == {"status": "ok", "version": __version__}
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            key = (data_dir / "api_key").read_text().strip()
            assert key.startswith("isk_")
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()
        assert b"Traceback" not in out
        # The key is created once, on the first start; the second start reuses the database.
        assert (b"Created an API key" in out) == (attempt == 0)
    assert (data_dir / "inboxsync.db").exists()
