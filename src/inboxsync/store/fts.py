"""The full-text index: one search document per message, written in the message's transaction.

A document has seven fields (subject, sender, to/cc/bcc, attachment file names, body text). Their text is
normalised here, once, in Python, for both backends and for the query terms alike: case folded, accents
and other non-spacing marks removed (NFKD), every run of non-alphanumeric characters turned into one
space, Han/kana characters split into one token each (CJK has no spaces, so a word inside a sentence must
be findable), tokens cut at 64 characters. The database tokenisers (FTS5 ``unicode61``, PostgreSQL
``simple``) then only split on spaces, so SQLite, PostgreSQL and the tests' oracle agree.

SQLite: ``search_docs`` (external content of the FTS5 table ``search_fts``; triggers keep them in step)
keyed by ``docid = received_at << 20 | random 20 bits``, so that FTS5's native rowid order is newest
first. PostgreSQL: ``search_docs`` holds a weighted ``tsvector`` (GIN) plus one vector per field.
Rows are deleted with their message by ``ON DELETE CASCADE``, whatever the delete path.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import addresses, bulk
from inboxsync.store.records import NewMessage

FIELDS = ("subject", "sender", "to_addr", "cc_addr", "bcc_addr", "filename", "body")
TEXT_LIMIT = 64 * 1024  # characters of body text indexed per message
DOCID_SHIFT = 20
_MAX_SECONDS = 2**42 - 1

_TOKEN = re.compile(r"[^\W_]{1,64}")
_CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_rng = random.Random()


@cache
def _marks() -> dict[int, None]:
    """A translate table deleting every non-spacing mark (built once, on the first non-ASCII text)."""
    return {c: None for c in range(0x300, 0x20000) if unicodedata.category(chr(c)) == "Mn"}


def normalise(value: str) -> str:
    """Text as indexed and searched: folded tokens separated by single spaces."""
    if not value:
        return ""
    if not value.isascii():
        value = unicodedata.normalize("NFKD", value).translate(_marks())
        value = _CJK.sub(r" \1 ", value)
    return " ".join(_TOKEN.findall(value.casefold()))


def tokens(value: str) -> list[str]:
    return normalise(value).split()


def people_text(people: Iterable[dict[str, str]]) -> str:
    return normalise(" ".join(f"{p.get('name') or ''} {p.get('email') or ''}" for p in people))


@dataclass(frozen=True, slots=True)
class SearchDoc:
    message_id: str
    grant_id: str
    received_at: int
    fields: tuple[str, ...]  # normalised, in FIELDS order
    # Its rows of the address index (store/addresses.py), written and forgotten with it.
    addresses: tuple[tuple[str, int], ...] = ()


def fields(
    *,
    subject: str | None,
    from_: Iterable[dict[str, str]],
    to: Iterable[dict[str, str]],
    cc: Iterable[dict[str, str]],
    bcc: Iterable[dict[str, str]],
    filenames: Iterable[str | None],
    body: str,
) -> tuple[str, ...]:
    """The normalised fields of a document, in FIELDS order (CPU-bound: sync computes them in its
    parse workers, beside the MIME parse, so ingest only writes them)."""
    return (
        normalise(subject or ""),
        people_text(from_),
        people_text(to),
        people_text(cc),
        people_text(bcc),
        normalise(" ".join(f for f in filenames if f)),
        normalise(body[:TEXT_LIMIT]),
    )


def document(
    message_id: str,
    grant_id: str,
    received_at: int,
    *,
    subject: str | None,
    from_: Iterable[dict[str, str]],
    to: Iterable[dict[str, str]],
    cc: Iterable[dict[str, str]],
    bcc: Iterable[dict[str, str]],
    filenames: Iterable[str | None],
    body: str,
) -> SearchDoc:
    from_, to, cc, bcc = list(from_), list(to), list(cc), list(bcc)
    return SearchDoc(
        message_id,
        grant_id,
        received_at,
        fields(subject=subject, from_=from_, to=to, cc=cc, bcc=bcc, filenames=filenames, body=body),
        addresses.roles_of(from_, to, cc, bcc),
    )


def of_new(grant_id: str, message_id: str, m: NewMessage) -> SearchDoc:
    """The document of a message being ingested (its fields were normalised at parse time)."""
    if m.search_fields:
        roles = addresses.roles_of(m.from_, m.to, m.cc, m.bcc)
        return SearchDoc(message_id, grant_id, m.received_at, m.search_fields, roles)
    return document(
        message_id,
        grant_id,
        m.received_at,
        subject=m.subject,
        from_=m.from_,
        to=m.to,
        cc=m.cc,
        bcc=m.bcc,
        filenames=(a.filename for a in m.attachments),
        body=m.search_text,
    )


def docid_floor(received_at: int) -> int:
    """The smallest SQLite docid of a message received at ``received_at`` (or later)."""
    return max(0, min(received_at, _MAX_SECONDS)) << DOCID_SHIFT


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def index(session: AsyncSession, docs: Sequence[SearchDoc]) -> None:
    """Add the documents of new messages and their rows of the address index (one bulk statement
    each, in the caller's transaction)."""
    if not docs:
        return
    await addresses.insert(
        session,
        [
            r
            for d in docs
            for r in addresses.rows_of(d.grant_id, d.message_id, d.received_at, d.addresses)
        ],
    )
    if _dialect(session) == "postgresql":
        await session.execute(text(_PG_INSERT), [_pg_row(d) for d in docs])
        return
    ids = await _fresh_docids(session, [d.received_at for d in docs])
    # Ascending rowids: FTS5 appends to its pending terms instead of flushing a segment.
    ordered = sorted(zip(ids, docs, strict=True), key=lambda pair: pair[0])
    rows = [
        {"docid": docid, "message_id": d.message_id, **dict(zip(FIELDS, d.fields, strict=True))}
        for docid, d in ordered
    ]
    await bulk.insert(session, _SEARCH_DOCS, rows)
    # FTS5 in one statement a chunk (no row trigger since migration 0004: half the CPU).
    names = ", ".join(FIELDS)
    for start in range(0, len(ordered), 500):
        chunk = [docid for docid, _ in ordered[start : start + 500]]
        marks = ", ".join(f":d{i}" for i in range(len(chunk)))
        await session.execute(
            text(
                f"INSERT INTO search_fts(rowid, {names}) SELECT docid, {names} "
                f"FROM search_docs WHERE docid IN ({marks}) ORDER BY docid"
            ),
            {f"d{i}": d for i, d in enumerate(chunk)},
        )


async def forget(session: AsyncSession, message_ids: Sequence[str]) -> None:
    """Remove the documents of messages and their rows of the address index (deleting a message
    does it too, by cascade)."""
    for start in range(0, len(message_ids), 500):
        chunk = list(message_ids[start : start + 500])
        marks = ", ".join(f":m{i}" for i in range(len(chunk)))
        for table in ("search_docs", "message_addresses"):
            await session.execute(
                text(f"DELETE FROM {table} WHERE message_id IN ({marks})"),
                {f"m{i}": m for i, m in enumerate(chunk)},
            )


async def _fresh_docids(session: AsyncSession, received: Sequence[int]) -> list[int]:
    """Unused docids for messages received at the given times (one lookup per 500, retried on clash)."""
    ids = [docid_floor(r) | _rng.getrandbits(DOCID_SHIFT) for r in received]
    while True:
        taken: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join(f":d{i}" for i in range(len(chunk)))
            rows = await session.execute(
                text(f"SELECT docid FROM search_docs WHERE docid IN ({marks})"),
                {f"d{i}": d for i, d in enumerate(chunk)},
            )
            taken.update(rows.scalars())
        seen: set[int] = set()
        clash = False
        for i, docid in enumerate(ids):
            if docid in taken or docid in seen:
                ids[i] = docid_floor(received[i]) | _rng.getrandbits(DOCID_SHIFT)
                clash = True
            seen.add(ids[i])
        if not clash:
            return ids


_SEARCH_DOCS = Table(
    "search_docs",
    MetaData(),
    Column("docid", Integer, primary_key=True),
    Column("message_id", String(32)),
    *(Column(f, Text) for f in FIELDS),
)  # the SQLite shape, for bulk inserts (the table itself is made by migration 0002)


_WEIGHTS = {"subject": "A", "sender": "B", "to_addr": "C", "cc_addr": "C", "bcc_addr": "C"}
_WEIGHTS |= {"filename": "C", "body": "D"}
_VECTORS = ", ".join(f"to_tsvector('simple', CAST(:{f} AS text)) AS {f}" for f in FIELDS)
_DOC = " || ".join(f"setweight(v.{f}, '{w}')" for f, w in _WEIGHTS.items())
_PG_FIELDS = [f for f in FIELDS if f != "body"]
#: PostgreSQL ``search_docs.fields``: every word of every field but the body, prefixed with its
#: field (``c:exmh`` for a word of Cc), in one GIN-indexed vector (migration 0007), so that
#: ``cc:exmh`` narrows to the messages with that word in Cc, not to every message saying "exmh".
FIELD_PREFIX = {"subject": "j", "sender": "f", "to_addr": "t", "cc_addr": "c", "bcc_addr": "b"}
FIELD_PREFIX |= {"filename": "n"}


def fields_vector_sql(vector_of: dict[str, str]) -> str:
    """The SQL of the ``fields`` vector, from the SQL of each field's own vector."""
    parts = " UNION ALL ".join(
        f"SELECT '{FIELD_PREFIX[f]}:' || x FROM unnest(tsvector_to_array({vector_of[f]})) AS x"
        for f in _PG_FIELDS
    )
    return f"array_to_tsvector(ARRAY({parts}))"


_FIELDS_VECTOR = fields_vector_sql({f: f"v.{f}" for f in _PG_FIELDS})
_PG_INSERT = (
    "INSERT INTO search_docs "
    f"(message_id, grant_id, received_at, doc, fields, {', '.join(_PG_FIELDS)}) "
    f"SELECT :message_id, :grant_id, :received_at, {_DOC}, {_FIELDS_VECTOR}, "
    f"{', '.join('v.' + f for f in _PG_FIELDS)} FROM (SELECT {_VECTORS}) AS v"
)


def _pg_row(d: SearchDoc) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(FIELDS, d.fields, strict=True))
    row.update(message_id=d.message_id, grant_id=d.grant_id, received_at=d.received_at)
    return row
