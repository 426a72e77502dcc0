"""The IMAP sync of one grant against a real Dovecot, in CONDSTORE/QRESYNC mode and in legacy mode."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxsync.errors import AuthError
from inboxsync.store import changes, grants
from inboxsync.store.models import Folder
from inboxsync.sync.imap.account import ImapGrantSync
from tests.support.dovecot import Dovecot
from tests.support.imap_admin import ImapAdmin
from tests.sync.imap.helpers import imap_grant, message_count, snapshot

pytestmark = [pytest.mark.dovecot]


def mail(n: int, *, subject: str | None = None, refs: str = "", body: str = "") -> bytes:
    lines = [
        f"Message-ID: <msg{n}@example.com>",
        "From: Bob <bob@example.com>",
        "To: alice@example.com",
        f"Subject: {subject or f'message {n}'}",
        f"Date: Mon, 1 Jan 2024 10:{n % 60:02d}:00 +0000",
    ]
    if refs:
        lines += [f"In-Reply-To: {refs}", f"References: {refs}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + (body or f"body {n}") + "\r\n").encode()


@pytest.fixture(params=["modern", "legacy"])
def server(request: pytest.FixtureRequest, dovecot_factory: object) -> Dovecot:
    return dovecot_factory(legacy=request.param == "legacy", rawlog=request.param == "legacy")  # type: ignore[operator]


async def admin_do(server: Dovecot, fn: object, *args: object) -> object:
    def run() -> object:
        with server.admin() as admin:
            return fn(admin, *args)  # type: ignore[operator]

    return await asyncio.to_thread(run)


async def test_full_then_incremental(server: Dovecot, tmp_path: Path) -> None:
    def seed(admin: ImapAdmin) -> None:
        admin.append_many("INBOX", [mail(i) for i in range(1, 31)])
        admin.append_many("Archive", [mail(i) for i in range(100, 110)])
        admin.append("Archive", mail(5))  # the same bytes as INBOX's 5th: one Message
        admin.set_flags("INBOX", 1, ["\\Seen"])

    await admin_do(server, seed)
    async with imap_grant(server, tmp_path) as rig:
        sync = ImapGrantSync(rig.deps, rig.grant_id)
        summary = await sync.run_once()
        assert summary.new == 41
        state = await snapshot(rig)
        assert len(state["INBOX"]) == 30 and len(state["Archive"]) == 11
        assert await message_count(rig) == 40
        assert state["INBOX"][5][0] == state["Archive"][11][0]
        assert "\\Seen" in state["INBOX"][1][2]

        # Raw bytes as the server serves them.
        raw = await admin_do(server, lambda a: a.fetch_raw("INBOX", 7))
        assert state["INBOX"][7][1] == hashlib.sha256(raw).hexdigest()  # type: ignore[arg-type]
        assert rig.runtime.blobs.get(state["INBOX"][7][1]) == raw

        # Nothing changed: nothing happens.
        summary = await sync.run_once()
        assert (summary.new, summary.gone, summary.flags) == (0, 0, 0)

        # Another client flags, moves, expunges, appends.
        def change(admin: ImapAdmin) -> None:
            admin.add_flags("INBOX", 2, ["\\Flagged"])
            admin.add_flags("INBOX", 3, ["\\Seen"])
            admin.move("INBOX", 4, "Archive")
            admin.delete_message("INBOX", 6)
            admin.append("INBOX", mail(31))

        moved_id = state["INBOX"][4][0]
        deleted_id = state["INBOX"][6][0]
        await admin_do(server, change)
        summary = await sync.run_once()
        state = await snapshot(rig)
        assert "\\Flagged" in state["INBOX"][2][2] and "\\Seen" in state["INBOX"][3][2]
        assert 4 not in state["INBOX"] and 6 not in state["INBOX"]
        archived = {mid for mid, _, _ in state["Archive"].values()}
        assert moved_id in archived  # a moved message keeps its id
        all_ids = {mid for uids in state.values() for mid, _, _ in uids.values()}
        assert deleted_id not in all_ids
        assert len(state["INBOX"]) == 29
        assert await message_count(rig) == 40  # -1 expunged, +1 new

        async with rig.runtime.db.session() as session:
            log = await changes.after(session, [rig.grant_id], 0, 100_000)
        events = {(c.object_type, c.event, c.object_id) for c in log}
        assert ("message", "deleted", deleted_id) in events
        assert ("message", "updated", moved_id) in events

    if server.legacy:
        assert server.legacy_violations() == []


async def test_folders_created_renamed_deleted(server: Dovecot, tmp_path: Path) -> None:
    def seed(admin: ImapAdmin) -> None:
        admin.create_folder("Projects")
        admin.create_folder("Projects/Große Dinge")
        admin.append("Projects/Große Dinge", mail(1))
        admin.create_folder("Old")
        admin.append("Old", mail(2))

    await admin_do(server, seed)
    async with imap_grant(server, tmp_path) as rig:
        sync = ImapGrantSync(rig.deps, rig.grant_id)
        await sync.run_once()
        async with rig.runtime.db.session() as session:
            rows = {f.path: f for f in (await session.scalars(select(Folder))).all()}
        assert rows["Projects/Große Dinge"].name == "Große Dinge"
        assert rows["Projects/Große Dinge"].parent_id == rows["Projects"].id
        assert rows["INBOX"].role == "inbox"
        sent_role = rows["Sent"].role
        assert sent_role == "sent"
        old_id = rows["Old"].id

        def change(admin: ImapAdmin) -> None:
            admin.rename_folder("Old", "Renamed")
            admin.delete_folder("Projects/Große Dinge")

        await admin_do(server, change)
        await sync.run_once()
        state = await snapshot(rig)
        async with rig.runtime.db.session() as session:
            rows = {f.path: f for f in (await session.scalars(select(Folder))).all()}
        assert "Old" not in rows and "Projects/Große Dinge" not in rows
        assert rows["Renamed"].id == old_id  # renamed, not deleted and re-created
        assert len(state["Renamed"]) == 1
        assert await message_count(rig) == 1


async def test_uidvalidity_change_keeps_ids(server: Dovecot, tmp_path: Path) -> None:
    await admin_do(server, lambda a: a.append_many("Archive", [mail(i) for i in range(1, 21)]))
    async with imap_grant(server, tmp_path) as rig:
        sync = ImapGrantSync(rig.deps, rig.grant_id)
        await sync.run_once()
        before = await snapshot(rig)
        old, new = await asyncio.to_thread(server.force_uidvalidity_change, None, "Archive")
        assert old != new
        await sync.run_once()
        after = await snapshot(rig)
        assert sorted(v[0] for v in after["Archive"].values()) == sorted(
            v[0] for v in before["Archive"].values()
        )
        assert await message_count(rig) == 20
        assert rig.deps.parser is not None


async def test_wrong_password_invalidates_grant(server: Dovecot, tmp_path: Path) -> None:
    async with imap_grant(server, tmp_path, password="wrong") as rig:
        with pytest.raises(AuthError):
            await ImapGrantSync(rig.deps, rig.grant_id).run_once()
        async with rig.runtime.db.session() as session:
            grant = await grants.get(session, rig.grant_id)
            assert grant.grant_status == "invalid" and grant.sync_state == "invalid"
            log = await changes.after(session, [rig.grant_id], 0, 100)
        assert ("grant", "expired") in {(c.object_type, c.event) for c in log}
        # The long-running loop does not retry bad credentials.
        stop = asyncio.Event()
        await asyncio.wait_for(ImapGrantSync(rig.deps, rig.grant_id).run(stop), 10)


async def test_idle_brings_new_mail(server: Dovecot, tmp_path: Path) -> None:
    await admin_do(server, lambda a: a.append("INBOX", mail(1)))
    async with imap_grant(server, tmp_path) as rig:
        stop = asyncio.Event()
        task = asyncio.create_task(ImapGrantSync(rig.deps, rig.grant_id).run(stop))
        try:
            for _ in range(100):
                if await message_count(rig) == 1:
                    break
                await asyncio.sleep(0.05)
            await admin_do(server, lambda a: a.append("INBOX", mail(2)))
            for _ in range(100):
                if await message_count(rig) == 2:
                    break
                await asyncio.sleep(0.05)
            assert await message_count(rig) == 2
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
