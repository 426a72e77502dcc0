"""SIGKILL during a first sync: the next run resumes, downloads only what is missing, no duplicates."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inboxsync.store.models import Message
from tests.support.gmail_fake import GmailFake
from tests.support.gmail_fake.server import serve
from tests.sync.gmail.helpers import gmail_grant, raw_message

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


async def test_sigkill_during_first_sync_resumes(tmp_path: Path) -> None:
    fake = GmailFake(latency=0.02)
    async with gmail_grant(tmp_path, fake=fake) as rig:
        for i in range(800):
            rig.box.insert(raw_message(i), ["INBOX"] + (["UNREAD"] if i % 3 else []))
        with serve(fake) as url:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.sync.gmail.child",
                    str(tmp_path / "data"),
                    url,
                    rig.grant_id,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            try:
                for _ in range(600):
                    await asyncio.sleep(0.05)
                    async with rig.runtime.db.session() as session:
                        count = await session.scalar(select(func.count()).select_from(Message))
                    if (count and count >= 200) or child.poll() is not None:
                        break
                assert child.poll() is None, "the child finished before it could be killed"
                os.kill(child.pid, signal.SIGKILL)
            finally:
                child.wait(10)
            stored_before = len(await rig.stored())
            assert 200 <= stored_before < 800
            fake_gets_before = sum(
                r.startswith("GET /gmail/v1/users/me/messages/") for r in fake.requests
            )
            rig.box.delete(next(iter(rig.box.messages)))  # a change while nobody synced
            summary = await rig.sync().run_once()
        assert summary.kind == "full"
        assert await rig.stored() == rig.expected()
        gets_after = sum(r.startswith("GET /gmail/v1/users/me/messages/") for r in fake.requests)
        assert gets_after - fake_gets_before <= 800 - stored_before  # nothing fetched twice
        # The change made during the gap is applied by the history pass from the recorded id.
        assert (await rig.sync().run_once()).kind == "history"
        assert await rig.stored() == rig.expected()
