"""Pages of search results: messages (keyset, newest first, or by relevance) and threads.

The sort key of a page is the SQLite docid or the PostgreSQL ``received_at`` (with the message id), so
that a page token names a position, as on the other lists. Relevance pages are offset pages (the token
carries the offset). Thread pages group the hits by thread, newest hit first; a thread shown on an
earlier page (it had a newer hit) is not shown again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store import fts
from inboxsync.store.models import Message, Thread
from inboxsync.store.queries import MESSAGE_COLUMNS, Key, MessageFilter, message_conditions
from inboxsync.store.search import (
    All,
    Expr,
    InFolders,
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
    request: SearchRequest, columns: Sequence[Any], after: Key | None, newer: Key | None = None
) -> Select[Any]:
    terms, tsquery = pg_where(_with_filters(request))
    terms = [pg_docs.c.grant_id == request.grant_id, *terms, *_filters(request)]
    sort, ident = pg_docs.c.received_at, pg_docs.c.message_id
    if newer is not None:
        terms.append(tuple_(sort, ident) > tuple_(literal(newer[0]), literal(newer[1])))
    query = (
        select(*columns, sort.label("sort_key"))
        .select_from(pg_docs)
        .join(Message, Message.id == pg_docs.c.message_id)
    )
    query = _joined(query, request).where(*terms)
    if request.relevance:
        first = () if tsquery is None else (pg_rank(tsquery).desc(),)
        return query.order_by(*first, sort.desc(), ident.desc())
    if after is not None:
        query = query.where(keyset_after(sort, ident, after))
    return query.order_by(sort.desc(), ident.desc())


def _builder(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return _pg_query if dialect == "postgresql" else _sqlite_query


async def message_search_page(
    session: AsyncSession, request: SearchRequest, limit: int, after: Key | None
) -> tuple[list[Row[Any]], Key | None]:
    """Up to ``limit`` message rows (the columns of the message lists) and the next page's key."""
    query = _builder(session)(request, MESSAGE_COLUMNS, None if request.relevance else after)
    offset = after[0] if request.relevance and after is not None else 0
    if offset:
        query = query.offset(offset)
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
    while len(order) <= limit:
        query = build(request, (Message.thread_id, Message.id), cursor).limit(chunk)
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
