"""Search against an oracle computed in Python over real mail, on SQLite and PostgreSQL.

The corpus is 120 SpamAssassin messages plus messages in Chinese, Russian, German and Hebrew, with
random dates, flags and folders. Every query's pages (7 rows a page, so that paging is exercised) must
hold exactly the messages the oracle finds, newest first.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from inboxsync.mime import parse
from inboxsync.search import service
from inboxsync.store import fts, messages
from inboxsync.store.db import Database
from inboxsync.store.listing import ThreadFilter
from inboxsync.store.models import Message
from inboxsync.store.queries import MessageFilter
from inboxsync.store.records import NewAttachment, NewMessage, Placement
from inboxsync.store.search import All, Any_, Exclude, Expr, Flag, InFolders, Received, Size, Words
from inboxsync.sync.convert import to_new_message
from tests.store.test_messages import setup
from tests.support.corpus import corpus_dir

NOW = 1_700_000_000
FOREIGN = [
    ("会议通知", "我们明天下午开会讨论搜索功能的设计。", "张伟", "zhang@example.cn"),
    ("Отчёт за квартал", "Пожалуйста, посмотрите приложенный отчёт о продажах.", "Иван Петров", "ivan@example.ru"),
    ("Grüße aus München", "Die Straße ist gesperrt, wir treffen uns im Café Müller.", "Jürgen Weiß", "jw@example.de"),
    ("שלום עולם", "הפגישה תתקיים ביום שלישי בתל אביב", "דוד", "david@example.co.il"),
]  # fmt: skip


@dataclass
class Record:
    id: str = ""
    fields: dict[str, list[str]] | None = None
    unread: bool = True
    starred: bool = False
    has_attachments: bool = False
    folders: frozenset[str] = frozenset()
    received: int = 0
    size: int = 0


def oracle(expr: Expr, r: Record) -> bool:
    if isinstance(expr, Words):
        want = expr.tokens
        assert r.fields is not None
        fields = [r.fields[expr.field]] if expr.field else list(r.fields.values())
        return any(
            f[i : i + len(want)] == want for f in fields for i in range(len(f) - len(want) + 1)
        )
    if isinstance(expr, Flag):
        return bool(getattr(r, expr.column)) == expr.value
    if isinstance(expr, InFolders):
        return bool(r.folders & set(expr.folder_ids))
    if isinstance(expr, Received):
        return (expr.after is None or r.received >= expr.after) and (
            expr.before is None or r.received < expr.before
        )
    if isinstance(expr, Size):
        return (expr.larger is None or r.size > expr.larger) and (
            expr.smaller is None or r.size < expr.smaller
        )
    if isinstance(expr, All):
        return all(oracle(i, r) for i in expr.items)
    if isinstance(expr, Any_):
        return any(oracle(i, r) for i in expr.items)
    assert isinstance(expr, Exclude)
    return not oracle(expr.item, r)


def corpus() -> list[NewMessage]:
    rng = random.Random(9)
    out = []
    for path in sorted(corpus_dir().glob("*.eml"))[::50]:
        raw = path.read_bytes()
        when = datetime.fromtimestamp(NOW - rng.randrange(3 * 365 * 86400), UTC)
        out.append(to_new_message(parse(raw), hashlib.sha256(raw).hexdigest(), received_at=when))
    for n, (subject, body, name, email) in enumerate(FOREIGN):
        out.append(
            NewMessage(
                sha256=hashlib.sha256(subject.encode()).hexdigest(),
                size=len(body) * 1000,
                received_at=NOW - n * 86400,
                date=NOW,
                subject=subject,
                from_=({"name": name, "email": email},),
                search_text=body,
                has_attachments=True,
                attachments=(NewAttachment("2", f"Bericht-{n}.pdf", "application/pdf", 9, None, "attachment", False),),
            )
        )  # fmt: skip
    return out


QUERIES = [
    "spamassassin", "razor", '"mailing list"', "from:boingboing", "to:exmh", "cc:exmh", "bcc:anyone",
    "subject:free", "subject:\"your money\"", "has:attachment", "filename:bericht", "is:unread", "is:read",
    "is:starred", "in:inbox", "in:archive linux", "label:Archive", "before:2022/01/01",
    "after:2022/06/01 before:2023/01/01", "older_than:1y", "newer_than:6m", "larger:10K", "smaller:2K",
    "linux OR perl", "linux -perl", "-linux is:unread", "(razor OR spam) (free OR money) -click",
    "from:example is:starred OR in:archive", "搜索", "会议", "отчёт", "ОТЧЕТ", "продажах", "Müller",
    "muller", "strasse", "straße", "שלום", "תל אביב", '"click here" has:attachment', "the",
    "-(the OR a)", "email@address", "to:spamassassin razor", "from:rssfeeds the", "subject:ilug linux",
]  # fmt: skip


async def load(db: Database) -> tuple[str, dict[str, Record], dict[str, str]]:
    gid, inbox, archive = await setup(db)
    rng = random.Random(4)
    records: dict[str, Record] = {}
    batch = []
    for m in corpus():
        flags = tuple(f for f, p in (("\\Seen", 0.6), ("\\Flagged", 0.2)) if rng.random() < p)
        folder = inbox if rng.random() < 0.7 else archive
        batch.append((m, Placement(uid=len(batch) + 1, flags=flags), folder))
    for folder in (inbox, archive):
        async with db.transaction() as s:
            part = [(m, p) for m, p, f in batch if f == folder]
            result = await messages.ingest(s, gid, folder, part)
        for mid, (m, p) in zip(result.created, part, strict=True):
            doc = fts.of_new(gid, mid, m)
            records[mid] = Record(
                mid,
                {f: v.split() for f, v in zip(fts.FIELDS, doc.fields, strict=True)},
                "\\Seen" not in p.flags,
                "\\Flagged" in p.flags,
                m.has_attachments,
                frozenset({folder}),
                m.received_at,
                m.size,
            )
    return gid, records, {"inbox": inbox, "archive": archive}


async def run(db: Database, gid: str, query: str, limit: int = 7) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    after = None
    while True:
        async with db.session() as s:
            rows, after = await service.messages(s, gid, query, MessageFilter(), limit, after)
        found += [(r.id, r.received_at) for r in rows]
        if after is None:
            return found


async def run_threads(db: Database, gid: str, query: str, limit: int = 3) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        async with db.session() as s:
            threads, after = await service.threads(s, gid, query, ThreadFilter(), limit, after)
        found += [t.id for t in threads]
        if after is None:
            return found


async def test_queries_match_the_oracle(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("time.time", lambda: float(NOW))
    gid, records, _ = await load(database)
    folders = []
    async with database.session() as s:
        expr_of = {q: await service.expression(s, gid, q) for q in QUERIES}
    for query in QUERIES:
        got = await run(database, gid, query)
        want = {r.id for r in records.values() if oracle(expr_of[query], r)}
        assert {i for i, _ in got} == want, query
        assert len(got) == len(want), f"{query}: a message on two pages"
        dates = [d for _, d in got]
        assert dates == sorted(dates, reverse=True), query
        folders.append(len(want))
    assert sum(1 for n in folders if n) > len(QUERIES) * 0.8  # the queries are not vacuous


@pytest.mark.parametrize("path", ["gather", "walk", "windows"])
async def test_every_postgresql_read_path_matches_the_oracle(
    pg_database: Database, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """PostgreSQL reads a text search by gathering candidates, walking by date, or in date windows
    (``store/search_pages.py``); each must give the oracle's pages, whatever the query."""
    from inboxsync.store import search_pages

    monkeypatch.setattr("time.time", lambda: float(NOW))
    monkeypatch.setattr(search_pages, "FIRST_WINDOW", 5)
    monkeypatch.setattr(search_pages, "FEW_CANDIDATES", 10**9 if path == "gather" else -1)
    monkeypatch.setattr(search_pages, "WALK_US", 0.0 if path == "walk" else 10.0**9)
    # Free words beside field words: a filter on the walk, through the GIN index elsewhere.
    monkeypatch.setattr(search_pages, "DOC_BITMAP", -1 if path == "walk" else 10**9)
    used: list[str] = []
    real = search_pages._pg_query

    def spy(*args: object, **kwargs: object) -> object:
        window = kwargs.get("window")
        used.append("gather" if window == search_pages.Window(None, None) else str(window))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_pages, "_pg_query", spy)
    gid, records, _ = await load(pg_database)
    async with pg_database.session() as s:
        expr_of = {q: await service.expression(s, gid, q) for q in QUERIES}
    async with pg_database.session() as s:
        thread_of = dict((await s.execute(select(Message.id, Message.thread_id))).tuples().all())
    for query in QUERIES:
        got = await run(pg_database, gid, query, limit=3)
        want = {r.id for r in records.values() if oracle(expr_of[query], r)}
        assert {i for i, _ in got} == want, query
        assert len(got) == len(want), f"{query}: a message on two pages"
        dates = [d for _, d in got]
        assert dates == sorted(dates, reverse=True), query
        threads = await run_threads(pg_database, gid, query)
        assert set(threads) == {thread_of[i] for i in want}, query
        assert len(threads) == len(set(threads)), f"{query}: a thread on two pages"
    if path == "gather":
        assert "gather" in used
    elif path == "windows":
        assert any(u.startswith("Window(lo=") for u in used)
    else:
        assert not any(u.startswith("Window(") for u in used)
