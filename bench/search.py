"""Search benchmark: 30 representative queries on SQLite and PostgreSQL over a large mailbox.

    .venv/bin/python bench/search.py [--size 1000000] [--db sqlite,postgresql] [--runs 20]

The dataset is built once into ``.cache/search-bench/`` (SQLite file, PostgreSQL database
``inboxsync_search_bench``) from the 6,046-message corpus: every message takes its body text, subject,
sender, recipients and attachments from different corpus messages (so words, names and their frequencies
stay realistic) and a random date over six years. Rows go straight into the tables in bulk, with the
search text normalised by ``store/fts.py`` exactly as ingest does it. The build commits every chunk and
resumes where it stopped. Then each query's first page (50 rows, newest first) is timed through
``store/search.py`` as the API runs it; p50/p95 per query, and the index size against the raw text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import pickle
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inboxsync.store import fts  # noqa: E402
from inboxsync.store.db import Database  # noqa: E402
from inboxsync.store.migrate import upgrade  # noqa: E402
from tests.support.corpus import corpus_dir  # noqa: E402

CACHE = ROOT / ".cache" / "search-bench"
PG_NAME = "inboxsync_search_bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GRANT = "benchgrant0000000000000000"
FOLDERS = [("bench-inbox", "INBOX", "inbox", 0.75), ("bench-archive", "Archive", "archive", 0.15)]
FOLDERS += [("bench-sent", "Sent", "sent", 0.10)]
START = 1_546_300_800  # 2019-01-01
SPAN = 6 * 365 * 86400
CHUNK = 20_000
SEED = 9
ATTACHMENT_SHARE = 0.15


def mid(i: int) -> str:
    return f"bm{i:024d}"


def pool() -> list[dict[str, Any]]:
    """The corpus parsed once (and its fields normalised once), cached as a pickle."""
    path = CACHE / "pool.pickle"
    if path.exists():
        return list(pickle.loads(path.read_bytes()))
    from inboxsync.mime import parse

    items = []
    for eml in sorted(corpus_dir().glob("*.eml")):
        p = parse(eml.read_bytes())
        people = [
            [{"name": a.name or "", "email": a.email} for a in x] for x in (p.from_, p.to, p.cc)
        ]
        files = [a.filename for a in p.attachments if a.filename]
        items.append(
            {
                "subject": p.subject,
                "from": people[0],
                "to": people[1],
                "cc": people[2],
                "text": p.text[: fts.TEXT_LIMIT],
                "snippet": p.snippet,
                "files": files,
                "size": p.size,
                "n": {
                    "subject": fts.normalise(p.subject),
                    "from": fts.people_text(people[0]),
                    "to": fts.people_text(people[1]),
                    "cc": fts.people_text(people[2]),
                    "files": fts.normalise(" ".join(files)),
                    "text": fts.normalise(p.text[: fts.TEXT_LIMIT]),
                },
            }
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(items))
    return items


def generate(items: list[dict[str, Any]], i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Message ``i`` (deterministic): a row for ``messages`` and its extras (folder, search fields)."""
    rng = random.Random(SEED * 10_000_019 + i)
    n = len(items)
    body, subj, frm, rcpt = (items[rng.randrange(n)] for _ in range(4))
    # ~15% of real mail has attachments: names from a corpus message that has some, sizes
    # log-uniform from 20 KB to 5 MB (the corpus's own attachments are few and small).
    att = rng.choice(_with_files(items)) if rng.random() < ATTACHMENT_SHARE else None
    files = att["files"] if att else []
    sizes = [int(20_000 * 2 ** (rng.random() * 8)) for _ in files]
    received = START + rng.randrange(SPAN)
    roll = rng.random()
    folder = FOLDERS[0][0] if roll < 0.75 else FOLDERS[1][0] if roll < 0.9 else FOLDERS[2][0]
    row = {
        "id": mid(i),
        "grant_id": GRANT,
        "thread_id": mid(i),
        "sha256": f"{i:064x}",
        "size": body["size"] + sum(sizes),
        "subject": subj["subject"],
        "from": json.dumps(frm["from"]),
        "to": json.dumps(rcpt["to"]),
        "cc": json.dumps(rcpt["cc"]),
        "date": received,
        "received_at": received,
        "snippet": body["snippet"],
        "body": body["text"][:512],
        "unread": rng.random() < 0.3,
        "starred": rng.random() < 0.05,
        "has_attachments": bool(files),
    }
    search = {
        "subject": subj["n"]["subject"],
        "sender": frm["n"]["from"],
        "to_addr": rcpt["n"]["to"],
        "cc_addr": rcpt["n"]["cc"],
        "bcc_addr": "",
        "filename": att["n"]["files"] if att else "",
        "body": body["n"]["text"],
    }
    return row, {"folder": folder, "files": list(zip(files, sizes, strict=True)), "search": search}


_WITH_FILES: dict[int, list[dict[str, Any]]] = {}


def _with_files(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if id(items) not in _WITH_FILES:
        _WITH_FILES[id(items)] = [x for x in items if x["files"]]
    return _WITH_FILES[id(items)]


MESSAGE_COLUMNS = [
    "id", "grant_id", "thread_id", "sha256", "size", "subject", "from", "to", "cc", "date",
    "received_at", "snippet", "body", "unread", "starred", "has_attachments",
]  # fmt: skip
CONSTANT = {
    "provider_id": None, "message_id_header": None, "in_reply_to": None, "references": "[]",
    "bcc": "[]", "reply_to": "[]", "is_draft": False, "metadata": "{}", "parse_errors": "[]",
    "created_at": START, "updated_at": START,
}  # fmt: skip


async def prepare(url: str) -> None:
    """Migrate, and add the grant and its folders (idempotent)."""
    db = Database(url)
    await upgrade(db)
    from sqlalchemy import text

    async with db.transaction() as s:
        if await s.scalar(text("SELECT count(*) FROM grants WHERE id = :g"), {"g": GRANT}) == 0:
            await s.execute(
                text(
                    "INSERT INTO grants (id, provider, email, settings, credentials, grant_status,"
                    " sync_state, initial_sync_complete, lease_generation, created_at, updated_at)"
                    " VALUES (:g, 'imap', 'bench@example.com', '{}', :c, 'valid', 'running',"
                    " true, 0, 0, 0)"
                ),
                {"g": GRANT, "c": b""},
            )
            for fid, path, role, _ in FOLDERS:
                await s.execute(
                    text(
                        "INSERT INTO folders (id, grant_id, path, name, role, attributes, cursor,"
                        " total_count, unread_count, created_at, updated_at)"
                        " VALUES (:f, :g, :p, :p, :r, '[]', '{}', 0, 0, 0, 0)"
                    ),
                    {"f": fid, "g": GRANT, "p": path, "r": role},
                )
    await db.close()


def _flags(row: dict[str, Any]) -> str:
    flags = ([] if row["unread"] else ["\\Seen"]) + (["\\Flagged"] if row["starred"] else [])
    return json.dumps(flags)


def _chunk(items: list[dict[str, Any]], start: int, end: int) -> list[tuple[dict[str, Any], ...]]:
    return [generate(items, i) for i in range(start, end)]


def build_sqlite(path: Path, size: int, items: list[dict[str, Any]]) -> None:
    asyncio.run(prepare(f"sqlite+aiosqlite:///{path}"))
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")  # the build only: a crash means deleting the file
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")
    done = con.execute("SELECT count(*) FROM messages WHERE grant_id = ?", (GRANT,)).fetchone()[0]
    columns = MESSAGE_COLUMNS + list(CONSTANT)
    quoted = ", ".join(f'"{c}"' for c in columns)
    insert_message = f"INSERT INTO messages ({quoted}) VALUES ({', '.join('?' for _ in columns)})"
    insert_doc = (
        f"INSERT INTO search_docs (docid, message_id, {', '.join(fts.FIELDS)})"
        f" VALUES (?, ?, {', '.join('?' for _ in fts.FIELDS)})"
    )
    for start in range(done, size, CHUNK):
        t0 = time.perf_counter()
        batch = _chunk(items, start, min(size, start + CHUNK))
        con.execute("BEGIN")
        con.executemany(
            insert_message,
            [[r[c] for c in MESSAGE_COLUMNS] + list(CONSTANT.values()) for r, _ in batch],
        )
        con.executemany(
            "INSERT INTO message_folders (folder_id, uid, message_id, grant_id, flags, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (x["folder"], int(r["id"][2:]) + 1, r["id"], GRANT, _flags(r), r["received_at"])
                for r, x in batch
            ],
        )
        con.executemany(
            "INSERT INTO attachments (id, grant_id, message_id, part_id, filename, content_type,"
            " size, is_inline) VALUES (?, ?, ?, ?, ?, 'application/octet-stream', ?, 0)",
            [
                (f"{r['id']}a{k}", GRANT, r["id"], str(k + 2), name, size)
                for r, x in batch
                for k, (name, size) in enumerate(x["files"])
            ],
        )
        con.executemany(
            insert_doc,
            [
                (
                    fts.docid_floor(r["received_at"]) | (int(r["id"][2:]) & 0xFFFFF),
                    r["id"],
                    *(x["search"][f] for f in fts.FIELDS),
                )
                for r, x in batch
            ],
        )
        con.execute("COMMIT")
        print(
            f"sqlite: {start + len(batch):,} messages ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    marker = path.with_suffix(".optimized")
    if not marker.exists() or done < size:
        # The documents went into search_docs alone; FTS5 reads its external content once, in
        # docid order (what ingest's INSERT … SELECT does a batch at a time).
        t0 = time.perf_counter()
        con.execute("INSERT INTO search_fts(search_fts) VALUES ('rebuild')")
        con.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        con.execute("ANALYZE")
        marker.write_text(str(size))
        print(
            f"sqlite: FTS rebuild + optimize + analyze {time.perf_counter() - t0:.1f} s", flush=True
        )
    con.execute("PRAGMA journal_mode=WAL")
    con.close()


async def build_postgresql(size: int, items: list[dict[str, Any]]) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN)
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_NAME):
        await admin.execute(f'CREATE DATABASE "{PG_NAME}"')
    await admin.close()
    await prepare(pg_url())
    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_NAME)
    done = await conn.fetchval("SELECT count(*) FROM messages WHERE grant_id = $1", GRANT)
    if done < size:
        await conn.execute("DROP INDEX IF EXISTS ix_search_docs_doc")  # built once at the end
        await conn.execute("DROP INDEX IF EXISTS ix_search_docs_fields")
    columns = MESSAGE_COLUMNS + list(CONSTANT)
    staged = ", ".join(f"{f} text" for f in fts.FIELDS)
    vectors = ", ".join(f"to_tsvector('simple', s.{f}) AS {f}" for f in fts.FIELDS)
    weights = {"subject": "A", "sender": "B", "to_addr": "C", "cc_addr": "C", "bcc_addr": "C"}
    weights |= {"filename": "C", "body": "D"}
    doc = " || ".join(f"setweight(v.{f}, '{w}')" for f, w in weights.items())
    fields = [f for f in fts.FIELDS if f != "body"]
    prefixed = fts.fields_vector_sql({f: f"v.{f}" for f in fields})
    for start in range(done, size, CHUNK):
        t0 = time.perf_counter()
        batch = _chunk(items, start, min(size, start + CHUNK))
        async with conn.transaction():
            await conn.copy_records_to_table(
                "messages",
                records=[
                    [r[c] for c in MESSAGE_COLUMNS] + list(CONSTANT.values()) for r, _ in batch
                ],
                columns=columns,
            )
            await conn.copy_records_to_table(
                "message_folders",
                records=[
                    (x["folder"], int(r["id"][2:]) + 1, r["id"], GRANT, _flags(r), r["received_at"])
                    for r, x in batch
                ],
                columns=["folder_id", "uid", "message_id", "grant_id", "flags", "received_at"],
            )
            await conn.copy_records_to_table(
                "attachments",
                records=[
                    (
                        f"{r['id']}a{k}",
                        GRANT,
                        r["id"],
                        str(k + 2),
                        name,
                        "application/octet-stream",
                        size,
                        False,
                    )
                    for r, x in batch
                    for k, (name, size) in enumerate(x["files"])
                ],
                columns=[
                    "id",
                    "grant_id",
                    "message_id",
                    "part_id",
                    "filename",
                    "content_type",
                    "size",
                    "is_inline",
                ],
            )
            await conn.execute(
                f"CREATE TEMP TABLE stage (message_id text, received_at bigint, {staged}) ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "stage",
                records=[
                    (r["id"], r["received_at"], *(x["search"][f] for f in fts.FIELDS))
                    for r, x in batch
                ],
            )
            await conn.execute(
                "INSERT INTO search_docs"
                f" (message_id, grant_id, received_at, doc, fields, {', '.join(fields)})"
                f" SELECT s.message_id, '{GRANT}', s.received_at, {doc}, {prefixed},"
                f" {', '.join('v.' + f for f in fields)}"
                f" FROM stage s CROSS JOIN LATERAL (SELECT {vectors}) AS v"
            )
        print(
            f"postgresql: {start + len(batch):,} messages ({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    exists = await conn.fetchval("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_search_docs_doc'")
    if not exists:
        t0 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("CREATE INDEX ix_search_docs_doc ON search_docs USING gin (doc)")
        await conn.execute("CREATE INDEX ix_search_docs_fields ON search_docs USING gin (fields)")
        await conn.execute("VACUUM ANALYZE")
        print(f"postgresql: GIN index + analyze {time.perf_counter() - t0:.1f} s", flush=True)
    await conn.close()


QUERIES = [
    "fuchsia",
    "limestone",
    "sculptor",
    "negotiations",
    "email",
    "information",
    "click",
    "repository",
    "compiled workers",
    '"mailing list"',
    '"click here"',
    '"open source"',
    '"free money"',
    "from:boingboing wireless",
    "from:garym linux",
    "from:tom perl",
    "after:2020/01/01 before:2020/03/01 has:attachment",
    "has:attachment after:2024/06/01 before:2024/06/15",
    "has:attachment signature",
    "email -click",
    "linux -windows",
    "mailing -list",
    "fuchsia OR limestone",
    "razor OR spamassassin",
    "(perl OR python) -java",
    "subject:free is:unread",
    "in:inbox money after:2023/01/01",
    "larger:100K click",
    "filename:signature",
    "cc:exmh is:starred",
]


async def measure(name: str, runs: int, size: int) -> None:
    """Time the first page (50 rows, newest first) of each query, as the API runs it."""
    from inboxsync.search import service
    from inboxsync.store.queries import MessageFilter

    url = f"sqlite+aiosqlite:///{CACHE / 'bench.db'}" if name == "sqlite" else pg_url()
    db = Database(url)
    print(f"\n{name}: {await count(db):,} messages; first page of 50, {runs} runs after a warm-up")
    print(f"{'query':52} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    worst = 0.0
    for query in QUERIES:
        times = []
        for _ in range(runs + 1):
            async with db.session() as s:
                t0 = time.perf_counter()
                rows, _ = await service.messages(s, GRANT, query, MessageFilter(), 50, None)
                times.append((time.perf_counter() - t0) * 1000)
        times = sorted(times[1:])
        # Nearest-rank percentile: the 95th of 100 runs, the 19th of 20 (not the slowest).
        p50, p95 = statistics.median(times), times[math.ceil(0.95 * len(times)) - 1]
        worst = max(worst, p95)
        print(f"{query:52} {len(rows):>5} {p50:>8.1f} {p95:>8.1f} {times[-1]:>8.1f}", flush=True)
    print(f"{name}: worst p95 {worst:.1f} ms")
    await report_sizes(db, name, size)
    await db.close()


async def count(db: Database) -> int:
    from sqlalchemy import text

    async with db.session() as s:
        return int(await s.scalar(text("SELECT count(*) FROM search_docs")) or 0)


async def report_sizes(db: Database, name: str, size: int) -> None:
    from sqlalchemy import text

    n = await count(db)
    items = pool()
    raw = sum(len(v.encode()) for i in range(n) for v in generate(items, i)[1]["search"].values())
    async with db.session() as s:
        if name == "sqlite":
            index = await s.scalar(
                text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_fts%'")
            )
            content = await s.scalar(
                text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE '%search_docs%'")
            )
            extra = f", search_docs (text + ids) {int(content or 0) / 2**20:,.0f} MiB"
        else:
            index = await s.scalar(text("SELECT pg_relation_size('ix_search_docs_doc')"))
            table_size = await s.scalar(text("SELECT pg_total_relation_size('search_docs')"))
            extra = f", search_docs with indexes {int(table_size or 0) / 2**20:,.0f} MiB"
    ratio = int(index or 0) / raw
    print(
        f"{name}: raw text {raw / 2**20:,.0f} MiB; text index {int(index or 0) / 2**20:,.0f} MiB"
        f" = {ratio:.2f} x raw{extra}"
    )


def pg_url() -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_NAME}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    items = pool()
    dbs = args.db.split(",")
    if "sqlite" in dbs:
        build_sqlite(CACHE / "bench.db", args.size, items)
    if "postgresql" in dbs:
        asyncio.run(build_postgresql(args.size, items))
    if args.build_only:
        return
    for name in dbs:
        asyncio.run(measure(name, args.runs, args.size))


if __name__ == "__main__":
    main()
