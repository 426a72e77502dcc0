"""The parse pool dies with the sync process, however that process ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import asyncio, json, multiprocessing.forkserver as fs, multiprocessing.resource_tracker as rt
from inboxsync.sync.parsing import Parser

async def main():
    parser = Parser(workers=2)
    raw = b"Subject: hello\\r\\nFrom: a@example.com\\r\\n\\r\\nbody\\r\\n"
    records = await parser.parse([(raw, None)] * 40)
    assert len(records) == 40
    pool = parser._executor()
    pids = list(pool._processes) + [fs._forkserver._forkserver_pid, rt._resource_tracker._pid]
    print(json.dumps(pids), flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return status != "Z"


def test_workers_and_forkserver_exit_when_the_sync_process_is_killed() -> None:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
    )
    try:
        assert child.stdout is not None
        pids = json.loads(child.stdout.readline())
        assert len(pids) >= 3 and all(_alive(p) for p in pids)  # workers, forkserver, tracker
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], (
        "parse workers, forkserver or tracker outlived the sync"
    )
