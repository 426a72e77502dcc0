"""The database-rendered JSON (``store/message_json.py``) equals the row path's objects.

Lists and finds with the standard fields take the one-statement path, where SQLite or PostgreSQL
builds each object's JSON; ``select`` naming every field takes the row path through
``views/serialize.py``. Both must give the same objects, on both databases: attachments, a message in
two folders, metadata, drafts, flags changed through the API.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from inboxsync import store
from inboxsync.runtime import Runtime
from inboxsync.store import listing, queries
from inboxsync.store.db import HeadCache
from inboxsync.store.queries import MessageFilter
from tests.compat.harness import all_pages, any_runtime, asgi_client, pg_runtime, seeded_client
from tests.compat.seed import Seeded, seed_grant

__all__ = ["any_runtime", "pg_runtime", "seeded_client"]

MESSAGE_FIELDS = (
    "object,id,grant_id,thread_id,subject,from,to,cc,bcc,reply_to,date,created_at,unread,"
    "starred,snippet,body,folders,attachments,metadata"
)
THREAD_FIELDS = (
    "object,id,grant_id,subject,snippet,participants,message_ids,draft_ids,folders,unread,starred,"
    "has_attachments,has_drafts,earliest_message_date,latest_message_received_date,"
    "latest_message_sent_date,latest_draft_or_message"
)


async def test_messages_and_threads_agree(seeded_client: tuple[httpx.AsyncClient, Seeded]) -> None:
    client, seeded = seeded_client
    base = f"/v3/grants/{seeded.grant_id}"
    first = (await client.get(f"{base}/messages", params={"limit": 3})).json()["data"]
    changed = await client.put(
        f"{base}/messages/{first[0]['id']}",
        json={"starred": True, "unread": False, "metadata": {"k": "v ü", "n": 1}},
    )
    assert changed.status_code == 200, changed.text
    draft = await client.post(
        f"{base}/drafts",
        json={"subject": "a draft", "to": [{"email": "bob@example.com"}], "body": "<p>hé</p>"},
    )
    assert draft.status_code == 200, draft.text

    sender = first[1]["from"][0]["email"]
    for params in (
        {},
        {"in": "archive"},
        {"has_attachment": "true"},
        {"starred": "true"},
        {"from": sender},  # through the text index, then the messages' JSON by id
        {"any_email": sender, "in": "inbox"},
    ):
        fast = await all_pages(client, f"{base}/messages", {"limit": 25, **params})
        rows = await all_pages(
            client, f"{base}/messages", {"limit": 25, **params, "select": MESSAGE_FIELDS}
        )
        assert fast == rows and fast, params
        for m in fast[:5]:
            assert (await client.get(f"{base}/messages/{m['id']}")).json()["data"] == m

    messages = await all_pages(client, f"{base}/messages", {"limit": 200})
    assert any(m["attachments"] for m in messages)
    assert any(len(m["folders"]) == 2 for m in messages)
    assert any(m["metadata"] == {"k": "v ü", "n": 1} and m["starred"] for m in messages)

    for params in ({}, {"in": "inbox"}, {"unread": "false"}):
        fast = await all_pages(client, f"{base}/threads", {"limit": 20, **params})
        rows = await all_pages(
            client, f"{base}/threads", {"limit": 20, **params, "select": THREAD_FIELDS}
        )
        assert fast == rows and fast, params
        for t in fast[:5]:
            assert (await client.get(f"{base}/threads/{t['id']}")).json()["data"] == t
    threads = await all_pages(client, f"{base}/threads", {"limit": 200})
    assert any(len(t["message_ids"]) > 1 for t in threads)
    assert any(t["draft_ids"] for t in threads)
    assert any(len(t["folders"]) > 1 for t in threads)


async def test_unknown_ids_are_404(seeded_client: tuple[httpx.AsyncClient, Seeded]) -> None:
    client, seeded = seeded_client
    base = f"/v3/grants/{seeded.grant_id}"
    for path in ("messages/01aaaaaaaaaaaaaaaaaaaaaaaa", "threads/01aaaaaaaaaaaaaaaaaaaaaaaa"):
        answer = await client.get(f"{base}/{path}")
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "api.not_found_error"


async def test_heads_written_by_ingest_equal_the_migrations(any_runtime: Runtime) -> None:
    # Migration 0008 renders the heads of stored messages in SQL; ingest renders them in Python.
    path = Path(store.__file__).parent / "migrations" / "versions" / "0008_message_json_head.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await seed_grant(any_runtime, count=120)
    heads = text("SELECT id, json_head FROM messages")
    async with any_runtime.db.transaction() as s:
        ingested = dict((await s.execute(heads)).tuples().all())
        await s.execute(text(migration.backfill(any_runtime.db.engine.dialect.name)))
        backfilled = dict((await s.execute(heads)).tuples().all())
    assert len(ingested) == 120 and None not in ingested.values()
    with_files = 0
    for mid, head in ingested.items():
        ours, theirs = json.loads(head + b"}"), json.loads(backfilled[mid] + b"}")
        assert ours == theirs, mid
        with_files += bool(ours["attachments"])
    assert with_files  # the corpus has messages with attachments


def test_the_head_cache_keeps_the_most_recently_used_within_its_bytes() -> None:
    cache = HeadCache(1000)
    for i in range(16):  # 960 bytes
        cache.put(f"m{i}", b"x" * 60)
    assert cache.get("m0") == b"x" * 60  # m0 is now the most recent
    cache.put("new", b"y" * 60)  # 1,020 bytes: the least recent (m1) goes
    assert cache.get("m1") is None and cache.get("m0") and cache.get("new")
    cache.put("huge", b"h" * 63)  # more than a sixteenth of the limit: never kept
    assert cache.get("huge") is None and cache.size == 960


@pytest.mark.postgres
async def test_pages_read_through_a_small_head_cache_are_the_same(
    pg_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL pages read their heads from the process's cache or by id: with a cache that holds
    a few heads, pages of every filter are those rendered with the heads in the page's statement;
    a message deleted between the page and its heads is left out, not rendered as garbage."""
    db = pg_runtime.db
    assert db.heads is not None  # PostgreSQL keeps one by default
    seeded = await seed_grant(pg_runtime, count=80)
    flt = MessageFilter(folder_id=seeded.folder_ids["inbox"])
    threads = listing.ThreadFilter()
    heads, db.heads = db.heads, None
    plain = [
        await queries.message_page_json(db, seeded.grant_id, f, 30, None)
        for f in (MessageFilter(), flt)
    ]
    plain_threads = await listing.thread_page_json(db, seeded.grant_id, threads, 30, None)
    db._prepared.clear()
    db.heads = HeadCache(20_000)
    for _ in range(2):  # cold, then partly warm
        cached = [
            await queries.message_page_json(db, seeded.grant_id, f, 30, None)
            for f in (MessageFilter(), flt)
        ]
        assert cached == plain
        cached_threads = await listing.thread_page_json(db, seeded.grant_id, threads, 30, None)
        assert cached_threads == plain_threads
    assert 0 < db.heads.size <= 20_000
    texts, _ = plain[0]
    ids = [json.loads(t)["id"] for t in texts]
    db.heads = HeadCache(20_000)
    deleted = ids[3]
    real_read = db.read_prepared

    async def delete_first(key: Any, build: Any, values: Any) -> Any:
        if key == "message_heads":
            async with db.transaction() as s:
                await s.execute(text("DELETE FROM messages WHERE id = :i"), {"i": deleted})
        return await real_read(key, build, values)

    monkeypatch.setattr(db, "read_prepared", delete_first)
    texts, _ = await queries.message_page_json(db, seeded.grant_id, MessageFilter(), 30, None)
    assert [json.loads(t)["id"] for t in texts] == [i for i in ids if i != deleted]
    # a thread whose latest message goes between its page and the heads stays, without it
    db.heads = None  # the page as it is now, heads in its statement
    db._prepared.clear()
    page, _ = await listing.thread_page_json(db, seeded.grant_id, threads, 30, None)
    deleted = json.loads(page[0])["latest_draft_or_message"]["id"]
    db.heads = HeadCache(20_000)
    db._prepared.clear()
    texts, _ = await listing.thread_page_json(db, seeded.grant_id, threads, 30, None)
    found = [json.loads(t) for t in texts]
    assert [t["id"] for t in found] == [json.loads(t)["id"] for t in page]
    assert found[0]["latest_draft_or_message"] is None
    assert found[1:] == [json.loads(t) for t in page[1:]]
    db.heads = heads


@pytest.mark.postgres
async def test_folder_ids_on_the_row_follow_every_placement_change(pg_runtime: Runtime) -> None:
    """PostgreSQL keeps a message's folder ids on its row by triggers (migration 0010): after ingest,
    moves through the API, a message deleted and a folder deleted (by cascade), every row holds
    exactly the folders of its placements."""
    seeded = await seed_grant(pg_runtime, count=60)
    stale = text(
        "SELECT count(*) FROM messages AS m WHERE m.folder_ids IS DISTINCT FROM (SELECT "
        "string_agg(DISTINCT f.folder_id, ' ' ORDER BY f.folder_id) FROM message_folders AS f "
        "WHERE f.message_id = m.id)"
    )
    placed = text("SELECT count(*) FROM messages WHERE folder_ids LIKE '% %'")

    async def check() -> None:
        async with pg_runtime.db.transaction() as s:
            assert (await s.execute(stale)).scalar() == 0

    await check()
    async with pg_runtime.db.transaction() as s:
        assert (await s.execute(placed)).scalar()  # the seed puts some messages in two folders
    base = f"/v3/grants/{seeded.grant_id}"
    inbox, archive, trash = (seeded.folder_ids[r] for r in ("inbox", "archive", "trash"))
    async with asgi_client(pg_runtime) as client:
        ids = [
            m["id"]
            for m in (await client.get(f"{base}/messages", params={"limit": 6})).json()["data"]
        ]
        for mid, folders in zip(ids, ([archive], [inbox, trash], [trash]), strict=False):
            answer = await client.put(f"{base}/messages/{mid}", json={"folders": folders})
            assert answer.status_code == 200, answer.text
            assert sorted(answer.json()["data"]["folders"]) == sorted(folders)
        await check()
        assert (await client.delete(f"{base}/messages/{ids[4]}")).status_code == 200
        await check()
        async with pg_runtime.db.transaction() as s:
            await s.execute(text("DELETE FROM folders WHERE id = :f"), {"f": trash})
        await check()
        page = (await client.get(f"{base}/messages", params={"limit": 6})).json()["data"]
        assert all(trash not in m["folders"] for m in page)


async def test_in_names_follow_folder_changes_made_through_the_api(
    seeded_client: tuple[httpx.AsyncClient, Seeded],
) -> None:
    """A process keeps what an ``in=`` name resolved to for a second, and forgets it when its own
    API creates, renames or deletes a folder: a rename is seen by the next list at once."""
    client, seeded = seeded_client
    base = f"/v3/grants/{seeded.grant_id}"
    archive = seeded.folder_ids["archive"]

    async def ids_in(name: str) -> list[str]:
        page = await client.get(f"{base}/messages", params={"in": name, "limit": 200})
        assert page.status_code == 200, page.text
        return [m["id"] for m in page.json()["data"]]

    before = await ids_in("Archive")
    assert before and await ids_in("Kept") == []
    renamed = await client.put(f"{base}/folders/{archive}", json={"name": "Kept"})
    assert renamed.status_code == 200, renamed.text
    assert await ids_in("Kept") == before  # "Kept" named nothing a moment ago
    assert await ids_in("archive") == before  # its role still names it


@pytest.mark.postgres
async def test_folder_ids_see_a_concurrent_placement_of_the_same_message(
    pg_runtime: Runtime,
) -> None:
    """Two transactions each place one message in another folder at the same time: the second
    waits for the first (the trigger locks the message rows) and stores both folders."""
    seeded = await seed_grant(pg_runtime, count=10)
    dsn = pg_runtime.db.url.replace("postgresql+asyncpg://", "postgresql://", 1)
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        row = await first.fetchrow(
            "SELECT message_id, received_at FROM message_folders WHERE folder_id = $1 LIMIT 1",
            seeded.folder_ids["inbox"],
        )
        place = (
            "INSERT INTO message_folders (folder_id, uid, message_id, grant_id, flags, modseq, "
            "received_at) VALUES ($1, $2, $3, $4, '[]', NULL, $5)"
        )
        values = (row["message_id"], seeded.grant_id, row["received_at"])
        a, b = seeded.folder_ids["archive"], seeded.folder_ids["trash"]
        await first.execute("BEGIN")
        await first.execute(place, a, 90_001, *values)
        await second.execute("BEGIN")
        waiting = asyncio.create_task(second.execute(place, b, 90_002, *values))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the first transaction's lock
        await first.execute("COMMIT")
        await waiting
        await second.execute("COMMIT")
        stored = await first.fetchval(
            "SELECT folder_ids FROM messages WHERE id = $1", row["message_id"]
        )
        assert stored == " ".join(sorted({seeded.folder_ids["inbox"], a, b}))
    finally:
        await first.close()
        await second.close()
