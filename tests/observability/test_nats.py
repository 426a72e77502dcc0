"""The change-log publisher against the real NATS JetStream server on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from inboxsync.config import Settings
from inboxsync.events.nats_publisher import (
    CHANGE_ID_HEADER,
    NatsConfig,
    NatsPublisher,
    config_from,
)
from inboxsync.runtime import Runtime
from inboxsync.store import changes
from inboxsync.store.db import Database
from inboxsync.store.migrate import upgrade
from tests.observability.conftest import NatsStream

GRANTS = ("ga", "gb", "gc")


async def add_changes(db: Database, count: int, *, start: int = 0) -> None:
    """``count`` message changes spread round-robin over three grants, in one transaction."""
    async with db.transaction() as session:
        for n in range(start, start + count, 500):
            for g, grant in enumerate(GRANTS):
                ids = [f"m{i}" for i in range(n, min(n + 500, start + count)) if i % 3 == g]
                await changes.record_many(session, grant, "message", "created", ids)


async def read_all(js: JetStreamContext, stream: str) -> list[tuple[str, int, dict[str, object]]]:
    """Every message of the stream in stream order: (subject, change id header, body)."""
    info = await js.stream_info(stream)
    out = []
    seq = info.state.first_seq
    while seq and seq <= info.state.last_seq:
        msg = await js.get_msg(stream, seq=seq)
        headers = msg.headers or {}
        assert msg.data is not None and msg.subject is not None
        out.append((msg.subject, int(headers[CHANGE_ID_HEADER]), json.loads(msg.data)))
        seq += 1
    return out


async def publish_until(publisher: NatsPublisher, upto: int, within: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(publisher.run(stop))
    deadline = time.monotonic() + within
    while publisher.position < upto and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert publisher.position == upto


async def newest(db: Database) -> int:
    async with db.session() as session:
        rows = await changes.after(session, None, 0, 1_000_000)
    return rows[-1].id if rows else 0


@pytest.mark.postgres
async def test_publishes_each_change_once_in_order(
    database: Database, nats_stream: NatsStream
) -> None:
    await add_changes(database, 300)
    config = NatsConfig(url=nats_stream.url, stream=nats_stream.name, prefix=nats_stream.prefix)
    last = await newest(database)
    await publish_until(NatsPublisher(database, config), last)

    got = await read_all(nats_stream.js, nats_stream.name)
    ids = [change_id for _, change_id, _ in got]
    assert len(ids) == 300
    assert ids == sorted(ids) and len(set(ids)) == 300  # the change-id order, each once
    for subject, change_id, body in got:
        assert body["id"] == str(change_id)
        assert subject == f"{nats_stream.prefix}.{body['grant_id']}.message.created"
    for grant in GRANTS:  # order per grant: the object ids of a grant come in insertion order
        mine = [int(str(body["object_id"])[1:]) for s, _, body in got if body["grant_id"] == grant]
        assert mine == sorted(mine) and len(mine) == 100

    # Later changes continue the stream; a new publisher resumes from the stream's last message.
    await add_changes(database, 30, start=300)
    again = NatsPublisher(database, config)
    await publish_until(again, await newest(database))
    got = await read_all(nats_stream.js, nats_stream.name)
    assert [c for _, c, _ in got] == sorted({c for _, c, _ in got})
    assert len(got) == 330


async def test_a_second_publisher_is_fenced(
    sqlite_database: Database, nats_stream: NatsStream
) -> None:
    """Two publishers on one stream (``serve`` and ``events nats`` by mistake): no duplicate, no
    reordering; the loser of each race re-reads the stream's position and goes on."""
    await add_changes(sqlite_database, 2000)
    config = NatsConfig(
        url=nats_stream.url, stream=nats_stream.name, prefix=nats_stream.prefix, batch=64
    )
    last = await newest(sqlite_database)
    first, second = NatsPublisher(sqlite_database, config), NatsPublisher(sqlite_database, config)
    await asyncio.gather(publish_until(first, last), publish_until(second, last))
    ids = [c for _, c, _ in await read_all(nats_stream.js, nats_stream.name)]
    assert ids == list(range(1, last + 1))


def _publisher_process(data_dir: Path, stream: NatsStream) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INBOXSYNC_DATA_DIR": str(data_dir),
        "INBOXSYNC_NATS_URL": stream.url,
        "INBOXSYNC_NATS_STREAM": stream.name,
        "INBOXSYNC_NATS_SUBJECT_PREFIX": stream.prefix,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "events", "nats"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_killed_publisher_resumes_without_loss_or_repeat(
    tmp_path: Path, nats_stream: NatsStream
) -> None:
    """SIGKILL the ``inboxsync events nats`` process mid-way; a new one completes the stream with
    every change exactly once, in order."""
    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.from_settings(settings)
    await upgrade(runtime.db)
    total = 20_000
    await add_changes(runtime.db, total)
    js = nats_stream.js

    async def stored() -> int:
        try:
            return int((await js.stream_info(nats_stream.name)).state.messages)
        except Exception:
            return 0

    proc = _publisher_process(settings.data_dir, nats_stream)
    try:
        deadline = time.monotonic() + 60
        while (count := await stored()) == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = await stored()
    print(f"killed at {count}..{at_kill} of {total}")
    assert 0 < count <= at_kill < total, (count, at_kill)  # killed mid-way

    proc = _publisher_process(settings.data_dir, nats_stream)
    try:
        deadline = time.monotonic() + 120
        while await stored() < total and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # anything extra would show now
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""

    got = await read_all(js, nats_stream.name)
    assert [c for _, c, _ in got] == list(range(1, total + 1))
    await runtime.close()


def test_config_is_off_without_url() -> None:
    assert config_from(Settings()) is None
    config = config_from(Settings(nats_url="nats://x:4222", nats_stream="S1"))
    assert config is not None and config.stream == "S1" and config.prefix == "inboxsync"


async def test_serve_publishes_when_configured(tmp_path: Path, nats_stream: NatsStream) -> None:
    """``inboxsync serve`` with INBOXSYNC_NATS_URL runs the publisher beside the API."""
    from tests.support.ports import free_port

    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.from_settings(settings)
    await upgrade(runtime.db)
    await add_changes(runtime.db, 90)
    await runtime.close()
    env = {
        **os.environ,
        "INBOXSYNC_DATA_DIR": str(settings.data_dir),
        "INBOXSYNC_NATS_URL": nats_stream.url,
        "INBOXSYNC_NATS_STREAM": nats_stream.name,
        "INBOXSYNC_NATS_SUBJECT_PREFIX": nats_stream.prefix,
        "INBOXSYNC_API_KEY": "k",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxsync.cli", "serve", "--port", str(free_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        got: list[tuple[str, int, dict[str, object]]] = []
        while len(got) < 90 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                got = await read_all(nats_stream.js, nats_stream.name)
            except Exception:  # the stream is created by the publisher once it starts
                got = []
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert [c for _, c, _ in got] == list(range(1, 91))
