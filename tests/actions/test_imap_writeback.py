"""Write-back to a real Dovecot, in CONDSTORE/QRESYNC and legacy mode, checked by a second client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxsync.store import actions, changes, grants, outbox
from inboxsync.store.models import Action, Folder, Message, MessageFolder
from inboxsync.sync.imap.account import ImapGrantSync
from tests.support.dovecot import Dovecot
from tests.sync.imap.helpers import Rig, imap_grant

pytestmark = [pytest.mark.dovecot]


def mail(n: int) -> bytes:
    return (
        f"Message-ID: <wb{n}@example.com>\r\nFrom: Bob <bob@example.com>\r\nTo: a@example.com\r\n"
        f"Subject: write-back {n}\r\n\r\nbody {n}\r\n"
    ).encode()


@pytest.fixture(params=["modern", "legacy"])
def server(request: pytest.FixtureRequest, dovecot_factory: Callable[..., Dovecot]) -> Dovecot:
    legacy = request.param == "legacy"
    return dovecot_factory(legacy=legacy, rawlog=legacy)


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[ImapGrantSync]:
    sync = ImapGrantSync(rig.deps, rig.grant_id)
    stop = asyncio.Event()
    task = asyncio.create_task(sync.run(stop))
    try:
        await until(lambda: _synced(rig), "first pass")
        yield sync
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def _synced(rig: Rig) -> bool:
    async with rig.runtime.db.session() as session:
        return (await grants.get(session, rig.grant_id)).initial_sync_complete


async def until(probe: Callable[[], object], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


async def ids(rig: Rig) -> dict[str, str]:
    """Message-ID header -> message id."""
    async with rig.runtime.db.session() as session:
        rows = await session.execute(select(Message.message_id_header, Message.id))
        return {h: i for h, i in rows.tuples() if h}


async def folder_ids(rig: Rig) -> dict[str, str]:
    async with rig.runtime.db.session() as session:
        return {f.path: f.id for f in (await session.scalars(select(Folder))).all()}


def server_flags(server: Dovecot, folder: str) -> dict[str, set[str]]:
    """Message-ID -> flags, as a second client sees them."""
    with server.admin() as admin:
        return {
            m.raw.split(b"\r\n", 1)[0].split(b" ", 1)[1].decode(): m.flags
            for m in admin.fetch_all(folder)
        }


async def open_actions(rig: Rig) -> list[Action]:
    async with rig.runtime.db.session() as session:
        return list((await session.scalars(select(Action).where(Action.state != "done"))).all())


async def test_flags_moves_deletes_and_folders(server: Dovecot, tmp_path: Path) -> None:
    with server.admin() as admin:
        admin.append_many("INBOX", [mail(i) for i in range(1, 6)])
    async with imap_grant(server, tmp_path) as rig, running(rig) as sync:
        mids, fids = await ids(rig), await folder_ids(rig)
        async with rig.runtime.db.session() as session:
            log_start = max([c.id for c in await changes.after(session, None, 0, 100_000)] or [0])

        async with rig.runtime.db.transaction() as session:
            await actions.update_message(
                session, rig.grant_id, mids["<wb1@example.com>"], unread=False, starred=True
            )
            await actions.update_message(
                session, rig.grant_id, mids["<wb2@example.com>"], folder_ids=[fids["Archive"]]
            )
            await actions.delete_message(session, rig.grant_id, mids["<wb3@example.com>"])
            await actions.create_folder(session, rig.grant_id, name="Projects")
        sync.wake.set()
        await until(lambda: _no_open(rig), "actions applied")

        inbox = server_flags(server, "INBOX")
        assert {"\\Seen", "\\Flagged"} <= inbox["<wb1@example.com>"]
        assert "<wb2@example.com>" not in inbox and "<wb3@example.com>" not in inbox
        assert "<wb2@example.com>" in server_flags(server, "Archive")
        assert "<wb3@example.com>" in server_flags(server, "Trash")
        with server.admin() as admin:
            assert "Projects" in admin.list_folders()

        # The moved message kept its id and has its real UID in Archive; nothing provisional left.
        async with rig.runtime.db.session() as session:
            rows = (
                await session.execute(
                    select(MessageFolder.folder_id, MessageFolder.uid).where(
                        MessageFolder.message_id == mids["<wb2@example.com>"]
                    )
                )
            ).all()
        assert [(f, uid > 0) for f, uid in rows] == [(fids["Archive"], True)]

        # A full pass afterwards changes nothing and echoes nothing.
        await sync.run_once()
        async with rig.runtime.db.session() as session:
            after = [c for c in await changes.after(session, None, log_start, 100_000)]
        echoed = [
            (c.object_type, c.event, c.fields)
            for c in after
            if c.object_type == "message" and c.object_id == mids["<wb1@example.com>"]
        ]
        assert len(echoed) == 1, echoed  # the API's own change, once

        # Rename and delete a folder.
        async with rig.runtime.db.transaction() as session:
            projects = await session.scalar(select(Folder).where(Folder.path == "Projects"))
            assert projects is not None
            await actions.update_folder(session, projects, {"name": "Work"})
        sync.wake.set()
        await until(lambda: _no_open(rig), "rename applied")
        with server.admin() as admin:
            names = admin.list_folders()
        assert "Work" in names and "Projects" not in names
    if server.legacy:
        assert server.legacy_violations() == []


async def _no_open(rig: Rig) -> bool:
    return not await open_actions(rig)


async def test_pending_change_is_not_undone_by_sync(server: Dovecot, tmp_path: Path) -> None:
    with server.admin() as admin:
        admin.append("INBOX", mail(1))
    async with imap_grant(server, tmp_path) as rig:
        sync = ImapGrantSync(rig.deps, rig.grant_id)
        await sync.run_once()
        mid = (await ids(rig))["<wb1@example.com>"]
        async with rig.runtime.db.transaction() as session:
            await actions.update_message(session, rig.grant_id, mid, starred=True)
            action = (await session.scalars(select(Action))).one()
            action.next_attempt_at = time.time() + 3600  # as if it failed and waits for a retry
        with server.admin() as admin:
            admin.add_flags("INBOX", 1, ["\\Seen"])  # another client changes the message meanwhile
        await sync.run_once()
        async with rig.runtime.db.session() as session:
            message = await session.get(Message, mid)
        assert message is not None and message.starred  # not reverted while the action is pending


async def test_permanent_failure_rolls_back(server: Dovecot, tmp_path: Path) -> None:
    with server.admin() as admin:
        admin.create_folder("Doomed")
    async with imap_grant(server, tmp_path) as rig:
        sync = ImapGrantSync(rig.deps, rig.grant_id)
        await sync.run_once()
        async with rig.runtime.db.transaction() as session:
            doomed = await session.scalar(select(Folder).where(Folder.path == "Doomed"))
            assert doomed is not None
            await actions.update_folder(session, doomed, {"name": "Saved"})
        with server.admin() as admin:
            admin.delete_folder("Doomed")  # gone on the server before we could rename it
        await sync.run_once()
        async with rig.runtime.db.session() as session:
            action = (await session.scalars(select(Action))).one()
            status = await outbox.summary(session, rig.grant_id)
            paths = {f.path for f in (await session.scalars(select(Folder))).all()}
        assert action.state == "failed" and action.last_error
        assert status["pending"] == 0
        assert [(f["kind"], "NONEXISTENT" in f["error"]) for f in status["failed"]] == [
            ("rename_folder", True)
        ]
        assert "Saved" not in paths and "Doomed" not in paths  # back to what the server has
