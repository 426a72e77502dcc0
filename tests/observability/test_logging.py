"""JSON log lines carry the request id (API) and the grant id (each grant's sync task)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxsync.api.app import create_app
from inboxsync.config import Settings
from inboxsync.logging_setup import configure
from inboxsync.runtime import Runtime
from inboxsync.store import grants
from inboxsync.store.migrate import upgrade
from inboxsync.sync.supervisor import Supervisor
from tests.support.dovecot import Dovecot
from tests.sync.imap.helpers import imap_grant


@pytest.fixture
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """Root logging in JSON (as INBOXSYNC_LOG_FORMAT=json); iterating parses the lines so far."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure("INFO", "json", stream=out)

    class Lines(list[dict[str, Any]]):
        def __iter__(self) -> Iterator[dict[str, Any]]:
            # every line must be one JSON object
            return iter([json.loads(raw) for raw in out.getvalue().splitlines()])

    yield Lines()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


async def test_request_lines_carry_the_request_id(
    tmp_path: Path, json_logs: list[dict[str, Any]]
) -> None:
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path))
    await upgrade(runtime.db)
    app = create_app(runtime)

    @app.get("/v3/log-something")
    async def log_something() -> dict[str, str]:
        logging.getLogger("inboxsync.test").info("inside the request", extra={"n": 7})
        await asyncio.sleep(0)
        logging.getLogger("inboxsync.test").warning("still inside")
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        given = await client.get("/v3/log-something", headers={"X-Request-Id": "req-abc"})
        made = await client.get("/v3/log-something")
        health = await client.get("/v3/health")
    await runtime.close()
    logging.getLogger("inboxsync.test").info("outside")

    lines = [line for line in json_logs if line["logger"] == "inboxsync.test"]
    assert [line["request_id"] for line in lines[:2]] == ["req-abc", "req-abc"]
    generated = made.headers["x-request-id"]
    assert generated and generated != "req-abc"
    assert [line["request_id"] for line in lines[2:4]] == [generated, generated]
    assert "request_id" not in lines[4]  # not bound outside a request
    assert lines[0]["message"] == "inside the request" and lines[0]["n"] == 7
    assert lines[0]["level"] == "info" and lines[0]["ts"].endswith("Z")
    assert given.headers["x-request-id"] == "req-abc"
    assert health.json()["request_id"] == health.headers["x-request-id"]  # envelope agrees


@pytest.mark.dovecot
async def test_sync_lines_carry_the_grant_id(
    dovecot: Dovecot, tmp_path: Path, json_logs: list[dict[str, Any]]
) -> None:
    """A grant whose password is refused logs a warning from its own task, under the supervisor."""
    async with imap_grant(dovecot, tmp_path, password="wrong") as rig:
        supervisor = Supervisor(rig.deps, refresh=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(supervisor.run(stop))
        deadline = time.monotonic() + 30
        state = ""
        while state != "invalid" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with rig.runtime.db.session() as session:
                state = (await grants.get(session, rig.grant_id)).grant_status
        stop.set()
        await task
    assert state == "invalid"
    refused = [line for line in json_logs if "credentials refused" in line["message"]]
    assert refused and all(line["grant_id"] == rig.grant_id for line in refused)
    logging.getLogger("inboxsync.test").info("after")  # this task never bound a grant
    assert "grant_id" not in list(json_logs)[-1]
