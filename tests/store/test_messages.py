"""Batch ingest, dedup by content, threading in any order, flags, removal: on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from sqlalchemy import func, select, text

from inboxsync.store import changes, folders, grants, messages
from inboxsync.store.db import Database
from inboxsync.store.models import Message, MessageFolder, Thread
from inboxsync.store.records import NewAttachment, NewMessage, Placement


def msg(
    n: int,
    *,
    msgid: str | None = None,
    refs: tuple[str, ...] = (),
    received: int | None = None,
    attachments: tuple[NewAttachment, ...] = (),
) -> NewMessage:
    return NewMessage(
        sha256=hashlib.sha256(f"message {n}".encode()).hexdigest(),
        size=100 + n,
        received_at=received if received is not None else 1_700_000_000 + n,
        date=1_700_000_000 + n,
        subject=f"Subject {n}",
        message_id_header=msgid or f"<m{n}@example.com>",
        in_reply_to=refs[-1] if refs else None,
        references=refs,
        from_=({"name": "Bob", "email": "bob@example.com"},),
        to=({"name": "", "email": "alice@example.com"},),
        snippet=f"snippet {n}",
        body=f"<p>{n}</p>",
        has_attachments=bool(attachments),
        attachments=attachments,
    )


async def setup(db: Database) -> tuple[str, str, str]:
    async with db.transaction() as s:
        g = await grants.create(
            s,
            provider="imap",
            email="alice@example.com",
            settings={},
            sealed_credentials=b"x",
            api_key_id=None,
        )
        inbox = folders.create(
            s, g.id, path="INBOX", name="INBOX", delimiter="/", role="inbox", attributes=[]
        )
        archive = folders.create(
            s, g.id, path="Archive", name="Archive", delimiter="/", role="archive", attributes=[]
        )
    return g.id, inbox.id, archive.id


async def count(db: Database, model: type[Message] | type[Thread] | type[MessageFolder]) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_ingest_dedups_by_content_across_folders(database: Database) -> None:
    gid, inbox, archive = await setup(database)
    pdf = NewAttachment("2", "a.pdf", "application/pdf", 1234, None, "attachment", False)
    async with database.transaction() as s:
        r1 = await messages.ingest(
            s,
            gid,
            inbox,
            [(msg(1, attachments=(pdf,)), Placement(1, ("\\Seen",))), (msg(2), Placement(2))],
        )
    assert len(r1.created) == 2
    async with database.transaction() as s:
        r2 = await messages.ingest(s, gid, archive, [(msg(1), Placement(7, ()))])
    assert r2.created == () and r2.placed == (r1.created[0],)
    assert await count(database, Message) == 2
    assert await count(database, MessageFolder) == 3
    async with database.session() as s:
        m1 = await s.get(Message, r1.created[0])
        assert m1 is not None and m1.unread is False  # read if any copy is \Seen
        assert m1.has_attachments


async def test_ingest_is_idempotent(database: Database) -> None:
    gid, inbox, _ = await setup(database)
    batch = [(msg(i), Placement(i)) for i in range(1, 6)]
    for _ in range(2):
        async with database.transaction() as s:
            await messages.ingest(s, gid, inbox, batch)
    assert await count(database, Message) == 5
    assert await count(database, MessageFolder) == 5


async def test_threads_join_whatever_the_order(database: Database) -> None:
    """Newest first: the reply arrives before its parent, the grandchild before both."""
    gid, inbox, _ = await setup(database)
    root = msg(1, msgid="<root@x>")
    reply = msg(2, msgid="<reply@x>", refs=("<root@x>",))
    grandchild = msg(3, msgid="<gc@x>", refs=("<root@x>", "<reply@x>"))
    other = msg(4, msgid="<other@x>")
    async with database.transaction() as s:
        await messages.ingest(s, gid, inbox, [(grandchild, Placement(3))])
    async with database.transaction() as s:
        await messages.ingest(s, gid, inbox, [(other, Placement(4)), (root, Placement(1))])
    async with database.transaction() as s:
        await messages.ingest(s, gid, inbox, [(reply, Placement(2))])
    async with database.session() as s:
        rows = dict(
            (await s.execute(select(Message.message_id_header, Message.thread_id))).tuples().all()
        )
        assert rows["<root@x>"] == rows["<reply@x>"] == rows["<gc@x>"]
        assert rows["<other@x>"] != rows["<root@x>"]
        thread = await s.get(Thread, rows["<root@x>"])
        assert thread is not None and thread.message_count == 3
        assert thread.subject == "Subject 1"
        assert thread.latest_message_received_date == 1_700_000_003


async def test_split_threads_merge_when_a_link_arrives(database: Database) -> None:
    gid, inbox, _ = await setup(database)
    a = msg(1, msgid="<a@x>")
    c = msg(3, msgid="<c@x>", refs=("<b@x>",))
    b = msg(2, msgid="<b@x>", refs=("<a@x>",))
    async with database.transaction() as s:
        await messages.ingest(s, gid, inbox, [(a, Placement(1)), (c, Placement(3))])
    assert await count(database, Thread) == 2
    async with database.transaction() as s:
        await messages.ingest(s, gid, inbox, [(b, Placement(2))])
    assert await count(database, Thread) == 1
    async with database.session() as s:
        assert len(set((await s.execute(select(Message.thread_id))).scalars())) == 1


async def test_flags_and_removal(database: Database) -> None:
    gid, inbox, archive = await setup(database)
    async with database.transaction() as s:
        r = await messages.ingest(s, gid, inbox, [(msg(1), Placement(1)), (msg(2), Placement(2))])
        await messages.ingest(s, gid, archive, [(msg(2), Placement(9))])
    async with database.transaction() as s:
        changed = await messages.set_flags(s, gid, inbox, [(1, ["\\Seen", "\\Flagged"], 5)])
    assert changed == [r.created[0]]
    async with database.session() as s:
        m = await s.get(Message, r.created[0])
        assert m is not None and not m.unread and m.starred
    async with database.transaction() as s:
        kept, deleted = await messages.remove_placements(s, gid, inbox, [1, 2])
    assert deleted == [r.created[0]] and kept == [r.created[1]]
    assert await count(database, Message) == 1
    async with database.session() as s:
        log = await changes.after(s, [gid], 0, 1000)
    events = [(c.object_type, c.event) for c in log]
    assert ("message", "deleted") in events and ("thread", "deleted") in events


async def test_uidvalidity_remap_keeps_messages(database: Database) -> None:
    gid, inbox, _ = await setup(database)
    async with database.transaction() as s:
        r = await messages.ingest(s, gid, inbox, [(msg(1), Placement(1)), (msg(2), Placement(2))])
    async with database.transaction() as s:
        await messages.move_placements(s, inbox, {1: 101, 2: 102})
    async with database.session() as s:
        placements = await messages.folder_placements(s, inbox)
    assert {uid: v[0] for uid, v in placements.items()} == {101: r.created[0], 102: r.created[1]}


@pytest.mark.postgres
async def test_postgresql_rows_hold_no_heads_or_bodies(pg_database: Database) -> None:
    """Page statements read a message's flags, folders and metadata, never its head or body
    (migration 0011): on PostgreSQL those leave the row, which stays narrow."""
    import random

    gid, inbox, _ = await setup(pg_database)
    noise = random.Random(7)
    batch = []
    for n in range(24):  # bodies that compress badly: ~6 KB of head and body a message
        body = "".join(noise.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(3000))
        batch.append((replace(msg(n), body=body, snippet=body[:200]), Placement(n + 1, ())))
    async with pg_database.transaction() as s:
        await messages.ingest(s, gid, inbox, batch)
    async with pg_database.read_session() as s:
        pages = await s.scalar(
            select(func.count(func.distinct(text("(ctid::text::point)[0]"))))
            .select_from(Message)
            .where(Message.grant_id == gid)
        )
        heads = await s.scalar(select(func.min(func.length(Message.json_head))))
    assert heads is not None and heads > 3000
    # Inline, 24 such rows fill 24 / 2 = 12 heap pages or more; out of the row, one or two.
    assert pages is not None and pages <= 2, pages
