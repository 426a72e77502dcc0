"""SIGKILL of ``inboxsync webhooks`` mid-batch: a new process delivers the rest, nothing lost, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store.migrate import upgrade
from tests.events.conftest import add_folders, first_seen, make_setup
from tests.events.receiver import Receiver

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent / "inboxsync"


def start(data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INBOXSYNC_DATA_DIR": str(data_dir),
        "INBOXSYNC_WEBHOOK_ALLOW_PRIVATE": "1",
        "INBOXSYNC_WEBHOOK_RETRY_BASE": "0.05",
        "INBOXSYNC_WEBHOOK_LEASE_SECONDS": "1",
        "INBOXSYNC_LOG_LEVEL": "WARNING",
    }
    env.pop("INBOXSYNC_DATABASE_URL", None)
    return subprocess.Popen([str(BIN), "webhooks"], env=env, stderr=subprocess.DEVNULL)


async def test_sigkill_mid_batch(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = tmp_path / "data"
    runtime = Runtime.from_settings(Settings(data_dir=data_dir, durable_writes=False))
    await upgrade(runtime.db)
    setup = await make_setup(runtime.db, receiver.url, ["folder.created"], sealer=runtime.sealer)
    names = [f"k{i:03d}" for i in range(300)]
    await add_folders(runtime.db, setup.grant_id, names)
    receiver.delay = 0.004
    proc = start(data_dir)
    try:
        await receiver.wait_for(60, within=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed_at = len(receiver.received)
        assert killed_at < 300, "the batch finished before the kill"
        await asyncio.sleep(0.2)
        proc = start(data_dir)
        for _ in range(600):
            if len(first_seen(receiver.received)) >= 300:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a slow stop must not hide the result below
            proc.kill()
            proc.wait(10)
        await runtime.close()
    got = first_seen(receiver.received)
    assert [b["data"]["object"]["name"] for b in got] == names
