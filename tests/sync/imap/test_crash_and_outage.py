"""Crash safety and outages: SIGKILL during first sync, the server away for a while, a 30 MB message,
and the whole corpus, all against a real Dovecot through the `inboxsync` command."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxsync.config import Settings
from inboxsync.runtime import Runtime
from inboxsync.store.models import Message, MessageFolder
from inboxsync.sync.imap.account import ImapGrantSync
from tests.support.corpus import corpus_dir
from tests.support.dovecot import Dovecot
from tests.sync.imap.helpers import imap_grant, message_count, snapshot

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

FOLDERS = ("INBOX", "Archive", "Sent", "Trash")


def cli(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "inboxsync.cli", *args, "--data-dir", str(data_dir)]


def env() -> dict[str, str]:
    out = {**os.environ, "INBOXSYNC_LOG_LEVEL": "WARNING", "INBOXSYNC_DURABLE_WRITES": "1"}
    out.pop("INBOXSYNC_DATABASE_URL", None)
    return out


def add_grant(server: Dovecot, data_dir: Path) -> str:
    out = subprocess.run(
        cli(
            data_dir,
            "grants",
            "add",
            "imap",
            "--imap-host",
            server.host,
            "--imap-port",
            str(server.port),
            "--imap-security",
            "none",
            "--imap-username",
            server.user,
            "--imap-password",
            server.password,
        ),
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def seed_corpus(server: Dovecot, limit: int | None) -> dict[str, list[bytes]]:
    paths = sorted(corpus_dir().glob("*.eml"))[:limit]
    per_folder: dict[str, list[bytes]] = {f: [] for f in FOLDERS}
    for i, path in enumerate(paths):
        per_folder[FOLDERS[i % len(FOLDERS)]].append(path.read_bytes())
    for folder, messages in per_folder.items():
        server.seed_maildir(None, folder, messages)
    return per_folder


async def stored_state(data_dir: Path) -> tuple[list[tuple[str, int]], dict[str, str]]:
    """(every (folder id, uid) placement, sha256 -> message id)."""
    runtime = Runtime.from_settings(Settings(data_dir=data_dir))
    try:
        async with runtime.db.session() as session:
            placements = list(
                (await session.execute(select(MessageFolder.folder_id, MessageFolder.uid))).tuples()
            )
            shas = dict((await session.execute(select(Message.sha256, Message.id))).tuples().all())
        return placements, shas
    finally:
        await runtime.close()


def server_hashes(server: Dovecot) -> dict[str, set[str]]:
    with server.admin() as admin:
        return {
            folder: {hashlib.sha256(m.raw).hexdigest() for m in admin.fetch_all(folder)}
            for folder in FOLDERS
        }


async def test_sigkill_during_first_sync_loses_and_duplicates_nothing(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    seed_corpus(dovecot, 2400)
    data_dir = tmp_path / "data"
    add_grant(dovecot, data_dir)
    kills = 0
    for delay in (0.8, 1.2, 1.6, 2.2, 3.0):
        proc = subprocess.Popen(
            cli(data_dir, "sync", "--once"),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await asyncio.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the sync finished before it could be killed: seed more mail"
    done = subprocess.run(
        cli(data_dir, "sync", "--once"), env=env(), capture_output=True, text=True, check=True
    )
    assert "0 failed" in done.stdout

    placements, shas = await stored_state(data_dir)
    assert len(placements) == len(set(placements)) == 2400
    expected = server_hashes(dovecot)
    assert set(shas) == set().union(*expected.values())
    runtime = Runtime.from_settings(Settings(data_dir=data_dir))
    try:
        for sha in list(shas)[:200]:
            assert hashlib.sha256(runtime.blobs.get(sha)).hexdigest() == sha
    finally:
        await runtime.close()
    again = subprocess.run(
        cli(data_dir, "sync", "--once"), env=env(), capture_output=True, text=True, check=True
    )
    assert " 0 new" in again.stdout and " 0 removed" in again.stdout


async def test_whole_corpus_byte_identical(dovecot: Dovecot, tmp_path: Path) -> None:
    seeded = seed_corpus(dovecot, None)
    data_dir = tmp_path / "data"
    add_grant(dovecot, data_dir)
    started = time.monotonic()
    out = subprocess.run(
        cli(data_dir, "sync", "--once"), env=env(), capture_output=True, text=True, check=True
    )
    print(f"corpus first sync: {time.monotonic() - started:.1f} s: {out.stdout.strip()}")
    total = sum(len(v) for v in seeded.values())
    assert f"{total} new" in out.stdout
    placements, shas = await stored_state(data_dir)
    assert len(placements) == total
    expected = server_hashes(dovecot)
    assert set(shas) == set().union(*expected.values())
    runtime = Runtime.from_settings(Settings(data_dir=data_dir))
    try:
        async with runtime.db.session() as session:
            ids = {
                m
                for (m,) in (await session.execute(select(Message.message_id_header))).tuples()
                if m
            }
        assert len(ids) > total * 0.95
        for sha in shas:
            assert runtime.blobs.path(sha).exists()
    finally:
        await runtime.close()


async def test_server_away_then_back(dovecot: Dovecot, tmp_path: Path) -> None:
    with dovecot.admin() as admin:
        admin.append("INBOX", b"Subject: one\r\nMessage-ID: <one@x>\r\n\r\n1\r\n")
    async with imap_grant(dovecot, tmp_path) as rig:
        rig.deps.poll_interval = 0.5
        stop = asyncio.Event()
        task = asyncio.create_task(ImapGrantSync(rig.deps, rig.grant_id).run(stop))
        try:
            await wait_for(lambda: message_count(rig), 1)
            await asyncio.to_thread(dovecot.stop)
            # The loop fails, backs off, retries; each attempt may show "running" for a moment, so
            # the state is polled (bounded) rather than read once after a fixed sleep.
            from inboxsync.store import grants

            deadline = time.monotonic() + 30
            while True:
                async with rig.runtime.db.session() as session:
                    grant = await grants.get(session, rig.grant_id)
                if grant.sync_state == "error" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            assert grant.sync_state == "error" and grant.last_error
            assert grant.grant_status == "valid"  # an outage is not a lost authorization
            await asyncio.to_thread(dovecot.start)
            with dovecot.admin() as admin:
                admin.append("INBOX", b"Subject: two\r\nMessage-ID: <two@x>\r\n\r\n2\r\n")
            await wait_for(lambda: message_count(rig), 2, within=20)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def test_thirty_megabyte_message(dovecot: Dovecot, tmp_path: Path) -> None:
    body = (b"A" * 76 + b"\r\n") * (30 * 1024 * 1024 // 78)
    raw = (
        b"Subject: big\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"see attachment\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--b--\r\n"
    )
    assert len(raw) > 30_000_000
    dovecot.seed_maildir(None, "INBOX", [raw])
    async with imap_grant(dovecot, tmp_path) as rig:
        await ImapGrantSync(rig.deps, rig.grant_id).run_once()
        state = await snapshot(rig)
        (_, sha, _) = next(iter(state["INBOX"].values()))
        stored = rig.runtime.blobs.get(sha)
        assert stored == raw
        async with rig.runtime.db.session() as session:
            message = (await session.scalars(select(Message))).one()
        assert message.has_attachments and message.subject == "big"


async def wait_for(probe: object, value: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe() == value:  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {value} within {within} s: {await probe()}")  # type: ignore[operator]
