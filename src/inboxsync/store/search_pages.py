"""Pages of search results: messages (keyset, newest first, or by relevance) and threads.

The sort key of a page is the SQLite docid or the PostgreSQL ``received_at`` (with the message id), so
that a page token names a position, as on the other lists. Relevance pages are offset pages (the token
carries the offset). Thread pages group the hits by thread, newest hit first; a thread shown on an
earlier page (it had a newer hit) is not shown again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, literal, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import fts
from inboxsync.store.db import Database
from inboxsync.store.models import Message, Thread
from inboxsync.store.queries import MESSAGE_COLUMNS, Key, MessageFilter, message_conditions
from inboxsync.store.search import (
    All,
    Expr,
    InFolders,
    PgText,
    Received,
    conjuncts,
    docs,
    fts5_conjunction,
    fts_table,
    keyset_after,
    newest_first_join,
    pg_docs,
    pg_rank,
    pg_where,
    rank_sqlite,
    sqlite_condition,
)

RELEVANCE_ID = "relevance"  # the id part of a relevance page token (whose number is an offset)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    grant_id: str
    expr: Expr
    filters: MessageFilter = field(default_factory=MessageFilter)
    thread_terms: tuple[ColumnElement[bool], ...] = ()  # conditions on ``threads`` (thread lists)
    relevance: bool = False


def _with_filters(request: SearchRequest) -> Expr:
    """The expression and the list filters of the API as one conjunction."""
    flt = request.filters
    extra: list[Expr] = []
    if flt.folder_id is not None:
        extra.append(InFolders((flt.folder_id,)))
    if flt.received_after is not None or flt.received_before is not None:
        after = None if flt.received_after is None else flt.received_after + 1
        extra.append(Received(after=after, before=flt.received_before))
    return All((*conjuncts(request.expr), *extra)) if extra else request.expr


def _filters(request: SearchRequest) -> list[ColumnElement[bool]]:
    terms = [Message.grant_id == request.grant_id, *message_conditions(request.filters)]
    return terms + list(request.thread_terms)


def _joined(query: Select[Any], request: SearchRequest) -> Select[Any]:
    if request.thread_terms:
        query = query.join(Thread, Thread.id == Message.thread_id)
    return query


def _sqlite_query(
    request: SearchRequest, columns: Sequence[Any], after: Key | None, newer: Key | None = None
) -> Select[Any]:
    items = conjuncts(_with_filters(request))
    match, rest = fts5_conjunction(items)
    # Date bounds become docid bounds, which FTS5 or the docid primary key seek to.
    bounds = [i for i in rest if isinstance(i, Received)]
    rest = [i for i in rest if not isinstance(i, Received)]
    terms = _filters(request) + [sqlite_condition(i) for i in rest]
    sort: ColumnElement[int]
    if match is not None:
        sort = fts_table.c.rowid
        query = (
            select(*columns, sort.label("sort_key"))
            .select_from(fts_table)
            .join(docs, docs.c.docid == fts_table.c.rowid)
            .join(Message, Message.id == docs.c.message_id)
            .where(fts_table.c.search_fts.op("MATCH")(match))
        )
    else:
        sort = docs.c.docid
        walk = newest_first_join(docs, Message.__table__, Message.id == docs.c.message_id)
        query = select(*columns, sort.label("sort_key")).select_from(walk)
    for b in bounds:
        if b.after is not None:
            terms.append(sort >= fts.docid_floor(b.after))
        if b.before is not None:
            terms.append(sort < fts.docid_floor(b.before))
    if newer is not None:
        terms.append(sort > newer[0])
    query = _joined(query, request).where(*terms)
    if request.relevance:
        return query.order_by(rank_sqlite(), sort.desc()) if match else query.order_by(sort.desc())
    if after is not None:
        query = query.where(sort < after[0])
    return query.order_by(sort.desc())


def _pg_query(
    request: SearchRequest,
    columns: Sequence[Any],
    after: Key | None,
    newer: Key | None = None,
    window: Window | None = None,
    doc_indexed: bool = False,
) -> Select[Any]:
    text_where = pg_where(_with_filters(request), doc_indexed)
    terms = [pg_docs.c.grant_id == request.grant_id, *text_where.terms, *_filters(request)]
    sort, ident = pg_docs.c.received_at, pg_docs.c.message_id
    if newer is not None:
        terms.append(tuple_(sort, ident) > tuple_(literal(newer[0]), literal(newer[1])))
    if window is not None:
        if window.lo is not None:
            terms.append(sort >= window.lo)
        if window.hi is not None:
            terms.append(sort < window.hi)
    query = (
        select(*columns, sort.label("sort_key"))
        .select_from(pg_docs)
        .join(Message, Message.id == pg_docs.c.message_id)
    )
    query = _joined(query, request).where(*terms)
    if request.relevance:
        rank = pg_rank(text_where)
        first = () if rank is None else (rank.desc(),)
        return query.order_by(*first, sort.desc(), ident.desc())
    if after is not None:
        query = query.where(keyset_after(sort, ident, after))
    if window is not None:
        # ``+ 0``: the window's rows are gathered through the text index and sorted, never by walking
        # the date index and testing every document (that walk is what the window avoids).
        return query.order_by((sort + 0).desc(), ident.desc())
    return query.order_by(sort.desc(), ident.desc())


@dataclass(frozen=True, slots=True)
class Window:
    """``lo <= received_at < hi`` (either side open when None)."""

    lo: int | None
    hi: int | None


#: At most this many candidates (the planner's estimate for the text index): gather them all, sort.
FEW_CANDIDATES = 2000
#: Free words beside field words go through the GIN index when the planner expects at most this
#: many documents to hold them (a posting list of 50,000 costs ~10 ms to turn into a bitmap).
DOC_BITMAP = 50_000
#: Documents the first window covers (the newest, walked by date: a common word ends here).
FIRST_WINDOW = 1000
#: Rough costs (µs, measured at 1,000,000 messages) that choose between walking on and a window:
#: testing one document met on the walk (detoasting its vector); one text-index entry put in a
#: bitmap; one candidate fetched and rechecked; one date-index entry of a window's range.
WALK_US, POSTING_US, RECHECK_US, RANGE_US = 5.0, 0.23, 1.5, 0.23
#: Documents a window covers at most: past ~200,000 the bitmap of its dates outgrows ``work_mem``
#: (16 MB, set by ``store/db.py``; ~50,000 at the default 4 MB), turns lossy, and every document of
#: the window is rechecked (270 ms instead of 30 at 120,000 documents and 4 MB).
WINDOW_DOCS = 150_000
#: Windows before the last one, which takes everything older.
MAX_WINDOWS = 6


async def _estimate(session: AsyncSession, where: str, **params: str) -> float:
    """The planner's estimate of the search documents matching ``where`` (statistics, no scan)."""
    plan = await session.execute(
        text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM search_docs WHERE {where}").bindparams(**params)
    )
    value = plan.scalar_one()
    document = json.loads(value) if isinstance(value, str) else value
    return max(float(document[0]["Plan"]["Plan Rows"]), 1.0)


def _walk_on(wanted_docs: float, candidates: float, documents: float) -> bool:
    """Whether testing ``wanted_docs`` more documents on the date walk costs less than gathering
    them as a window through the text index (whose bitmap costs every candidate of the grant)."""
    window = candidates * POSTING_US + wanted_docs * (
        candidates / documents * RECHECK_US + RANGE_US
    )
    return wanted_docs * WALK_US <= window


async def _pg_text_page(
    session: AsyncSession,
    request: SearchRequest,
    limit: int,
    after: Key | None,
    narrow: PgText,
    columns: Sequence[Any] = MESSAGE_COLUMNS,
) -> list[Row[Any]]:
    """A page of a text search on PostgreSQL (newest first), read the way its hits call for.

    Walking the date index newest first and testing each document costs ~10 µs a document (the
    vector is detoasted), so 50 / (share of documents that match) of them: 2.6 s for a word in 206
    of 1,000,000 messages. Gathering every candidate through the GIN index and sorting costs the
    number of candidates: 300,000 for "email". The planner prices the walk far too low (it does
    not count detoasting), so this picks: few candidates (its estimate, from statistics) → gather
    and sort; else walk the newest ``FIRST_WINDOW`` documents; if the share of hits there promises
    the page soon, walk on; else read older windows of ``received_at`` sized from that share, each
    gathered through the GIN index with the date range (phrases, field words and flag filters
    whose hits are rare among common words end here).
    """
    want = limit + 1
    grant = {"g": request.grant_id}
    doc_indexed = False
    if narrow.fields_query is not None and narrow.doc_query is not None:
        # Free words beside field words: through the GIN index too when their posting lists are
        # short ("wireless": 3 ms), a filter when long ("linux": 46 ms for its bitmap).
        words = await _estimate(session, "doc @@ CAST(:q AS tsquery)", q=narrow.doc_query)
        doc_indexed = words <= DOC_BITMAP
    query_of = partial(_pg_query, doc_indexed=doc_indexed)
    condition, params = narrow.index_condition(doc_indexed)
    candidates = await _estimate(session, f"grant_id = :g AND {condition}", **params, **grant)
    if candidates <= FEW_CANDIDATES:
        query = query_of(request, columns, after, window=Window(None, None))
        return list((await session.execute(query.limit(want))).all())
    keyset = [pg_docs.c.grant_id == request.grant_id]
    if after is not None:
        keyset.append(keyset_after(pg_docs.c.received_at, pg_docs.c.message_id, after))
    newest = (
        select(pg_docs.c.received_at)
        .where(*keyset)
        .order_by(pg_docs.c.received_at.desc(), pg_docs.c.message_id.desc())
        .limit(FIRST_WINDOW)
        .subquery()
    )
    span = (
        await session.execute(
            select(func.min(newest.c.received_at), func.max(newest.c.received_at), func.count())
        )
    ).one()
    lo: int | None = None if span[2] < FIRST_WINDOW else int(span[0])
    top = int(span[1] or 0)
    first = query_of(request, columns, after)
    if lo is not None:
        # These documents by their ids (the date index), each tested: no text-index bitmap, whose
        # cost is every candidate of the grant, for a thousand documents.
        walk = (
            select(pg_docs.c.message_id, pg_docs.c.received_at)
            .where(*keyset, pg_docs.c.received_at >= lo)
            .order_by(pg_docs.c.received_at.desc(), pg_docs.c.message_id.desc())
            .subquery("walk")
        )
        first = (
            first.join(walk, walk.c.message_id == pg_docs.c.message_id)
            .order_by(None)
            .order_by(walk.c.received_at.desc(), walk.c.message_id.desc())
        )
    rows = list((await session.execute(first.limit(want))).all())
    covered = FIRST_WINDOW
    windows = 0
    documents: float | None = None
    while len(rows) < want and lo is not None:
        share = max(len(rows), 0.5) / covered  # hits per document so far
        if documents is None:
            documents = max(await _estimate(session, "grant_id = :g", **grant), candidates)
        if _walk_on((want - len(rows)) / share, candidates, documents):
            rest = query_of(request, columns, after).where(pg_docs.c.received_at < lo)
            rows += (await session.execute(rest.limit(want - len(rows)))).all()
            break
        windows += 1
        # Enough documents for the hits still wanted at that share, with a margin; at most 32
        # times what is covered (a share seen in a few hits is a guess).
        wanted_docs = min(max(1.2 * (want - len(rows)) / share, covered), 32 * covered, WINDOW_DOCS)
        per_second = covered / max(top - lo, 1)
        new_lo = None if windows >= MAX_WINDOWS else int(lo - wanted_docs / per_second)
        query = query_of(request, columns, after, window=Window(new_lo, lo))
        rows += (await session.execute(query.limit(want - len(rows)))).all()
        covered += int(wanted_docs)
        if new_lo is not None and len(rows) < want:
            older = select(pg_docs.c.message_id).where(
                pg_docs.c.grant_id == request.grant_id, pg_docs.c.received_at < new_lo
            )
            if (await session.execute(older.limit(1))).first() is None:
                break
        lo = new_lo
    return rows


def _builder(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return _pg_query if dialect == "postgresql" else _sqlite_query


async def message_search_page(
    session: AsyncSession,
    request: SearchRequest,
    limit: int,
    after: Key | None,
    columns: Sequence[Any] = MESSAGE_COLUMNS,
    db: Database | None = None,
) -> tuple[list[Row[Any]], Key | None]:
    """Up to ``limit`` message rows (``columns``: by default those of the message lists; ``id``
    always among them) and the next page's key. With ``db`` on SQLite the one statement runs
    outside the session (:meth:`Database.read`: inline, no thread hops)."""
    build = _builder(session)
    narrow = None if build is _sqlite_query else pg_where(_with_filters(request))
    if narrow is not None and narrow.narrowed and not request.relevance:
        rows = await _pg_text_page(session, request, limit, after, narrow, columns)
        offset = 0
    else:
        query = build(request, columns, None if request.relevance else after)
        offset = after[0] if request.relevance and after is not None else 0
        if offset:
            query = query.offset(offset)
        if db is not None and db.is_sqlite:
            rows = list(await db.read(query.limit(limit + 1)))
        else:
            rows = list((await session.execute(query.limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not more or not rows:
        return rows, None
    if request.relevance:
        return rows, (offset + limit, RELEVANCE_ID)
    return rows, (int(rows[-1].sort_key), str(rows[-1].id))


async def thread_search_page(
    session: AsyncSession, request: SearchRequest, limit: int, after: Key | None
) -> tuple[list[Thread], Key | None]:
    """Threads with a hit, by their newest hit, and the key of the hit that ends the page."""
    build = _builder(session)
    request = SearchRequest(request.grant_id, request.expr, request.filters, request.thread_terms)
    chunk = max(4 * limit, 100)
    order: list[str] = []
    key_of: dict[str, Key] = {}
    cursor = after
    narrow = None if build is _sqlite_query else pg_where(_with_filters(request))
    columns = (Message.thread_id, Message.id)
    while len(order) <= limit:
        if narrow is not None and narrow.narrowed:
            rows = await _pg_text_page(session, request, chunk - 1, cursor, narrow, columns)
        else:
            query = build(request, columns, cursor).limit(chunk)
            rows = [r for r in (await session.execute(query)).all()]
        fresh = {r.thread_id for r in rows if r.thread_id and r.thread_id not in key_of}
        shown = await _hit_newer(session, build, request, fresh, after) if after else set()
        for r in rows:
            cursor = (int(r.sort_key), str(r.id))
            if r.thread_id and r.thread_id not in key_of and r.thread_id not in shown:
                key_of[r.thread_id] = cursor
                order.append(r.thread_id)
                if len(order) > limit:
                    break
        if len(rows) < chunk:
            break
    more = len(order) > limit
    order = order[:limit]
    found = {t.id: t for t in (await session.scalars(select(Thread).where(Thread.id.in_(order))))}
    threads = [found[t] for t in order if t in found]
    return threads, key_of[order[-1]] if more and order else None


async def _hit_newer(
    session: AsyncSession, build: Any, request: SearchRequest, thread_ids: set[str], key: Key
) -> set[str]:
    """Which of ``thread_ids`` have a hit newer than ``key`` (so an earlier page showed them)."""
    if not thread_ids:
        return set()
    narrowed = SearchRequest(
        request.grant_id,
        request.expr,
        request.filters,
        (*request.thread_terms, Message.thread_id.in_(list(thread_ids))),
    )
    rows = await session.execute(build(narrowed, (Message.thread_id,), None, key))
    return {r.thread_id for r in rows}
