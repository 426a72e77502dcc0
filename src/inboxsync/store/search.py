"""Search pages: a boolean expression of text terms and filters -> one keyset page of messages.

The expression types below are what ``search/plan.py`` produces; text is normalised here with
:func:`inboxsync.store.fts.tokens`, like the index. Flags, folders, dates and sizes are conditions on
``messages``/``message_folders``, never the text index.

SQLite: the conjunction of text terms that FTS5 can express (``{sender} : "alice"``, ``a OR b``,
``a NOT b``) drives the query in FTS5's own rowid order, which is newest first (see ``store/fts.py``);
everything else filters the joined rows; a query with no such term walks ``search_docs`` backwards.
PostgreSQL: a ``tsquery`` implied by the expression narrows through the GIN index (or the planner walks
``(grant_id, received_at)`` when the terms are common), the exact expression rechecks the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import FromClause, Join

from inboxsync.store import fts
from inboxsync.store.models import Message, MessageFolder

FIELD_NAMES = ("subject", "sender", "to_addr", "cc_addr", "bcc_addr", "filename")


@dataclass(frozen=True, slots=True)
class Words:
    """Text that must occur (as a phrase when it has several tokens); in one field, or anywhere."""

    value: str
    field: str | None = None

    @property
    def tokens(self) -> list[str]:
        return fts.tokens(self.value)


@dataclass(frozen=True, slots=True)
class Flag:
    column: Literal["unread", "starred", "has_attachments"]
    value: bool


@dataclass(frozen=True, slots=True)
class InFolders:
    folder_ids: tuple[str, ...]  # empty: nothing matches (an unknown folder)


@dataclass(frozen=True, slots=True)
class Received:
    after: int | None = None  # received_at >= after
    before: int | None = None  # received_at < before


@dataclass(frozen=True, slots=True)
class Size:
    larger: int | None = None
    smaller: int | None = None


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Any_:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Exclude:
    item: Expr


Expr = Words | Flag | InFolders | Received | Size | All | Any_ | Exclude

docs = table("search_docs", column("docid", Integer), column("message_id", String))
fts_table = table("search_fts", column("rowid", Integer), column("search_fts", String))
pg_docs = table(
    "search_docs",
    column("message_id", String),
    column("grant_id", String),
    column("received_at", BigInteger),
    column("doc", TSVECTOR),
    column("fields", TSVECTOR),
    *(column(f, TSVECTOR) for f in FIELD_NAMES),
)


def conjuncts(expr: Expr) -> list[Expr]:
    return list(expr.items) if isinstance(expr, All) else [expr]


def _common(node: Expr) -> ColumnElement[bool] | None:
    """The condition of a filter node (the same on both backends), or None for other nodes."""
    if isinstance(node, Flag):
        col = {"unread": Message.unread, "starred": Message.starred}.get(
            node.column, Message.has_attachments
        )
        return col.is_(node.value)
    if isinstance(node, InFolders):
        if not node.folder_ids:
            return false()
        return exists().where(
            MessageFolder.message_id == Message.id,
            MessageFolder.folder_id.in_(list(node.folder_ids)),
        )
    if isinstance(node, Size):
        terms = []
        if node.larger is not None:
            terms.append(Message.size > node.larger)
        if node.smaller is not None:
            terms.append(Message.size < node.smaller)
        return and_(true(), *terms)
    return None


# --- SQLite: FTS5 -------------------------------------------------------------------------------


def fts5_match(node: Expr) -> str | None:
    """The FTS5 query for ``node`` when FTS5 can express it exactly on its own, else None."""
    if isinstance(node, Words):
        tokens = node.tokens
        if not tokens:
            return None
        phrase = '"' + " ".join(tokens) + '"'
        return f"{{{node.field}}} : {phrase}" if node.field else phrase
    if isinstance(node, Any_):
        parts = [fts5_match(i) for i in node.items]
        if not parts or any(p is None for p in parts):
            return None
        return "(" + " OR ".join(p for p in parts if p) + ")"
    if isinstance(node, All):
        return fts5_conjunction(list(node.items))[0] if node.items else None
    return None


def fts5_conjunction(items: list[Expr]) -> tuple[str | None, list[Expr]]:
    """Split a conjunction into one FTS5 query and the items it leaves for SQL."""
    positive: list[str] = []
    negative: list[str] = []
    rest: list[Expr] = []
    for item in items:
        inner = fts5_match(item.item) if isinstance(item, Exclude) else None
        if inner is not None:
            negative.append(inner)
            continue
        match = None if isinstance(item, Exclude) else fts5_match(item)
        if match is None:
            rest.append(item)
        else:
            positive.append(match)
    if not positive:
        return None, items
    query = "(" + " AND ".join(positive) + ")" + "".join(f" NOT {n}" for n in negative)
    return query, rest


def sqlite_condition(node: Expr) -> ColumnElement[bool]:
    """An exact SQL condition on ``messages m`` / ``search_docs d`` for any node."""
    common = _common(node)
    if common is not None:
        return common
    if isinstance(node, Words):
        match = fts5_match(node)
        if match is None:
            return true()
        hits = select(fts_table.c.rowid).where(fts_table.c.search_fts.op("MATCH")(match))
        return docs.c.docid.in_(hits)
    if isinstance(node, Received):
        terms = []
        if node.after is not None:
            terms.append(docs.c.docid >= fts.docid_floor(node.after))
        if node.before is not None:
            terms.append(docs.c.docid < fts.docid_floor(node.before))
        return and_(true(), *terms)
    if isinstance(node, All):
        return and_(true(), *(sqlite_condition(i) for i in node.items))
    if isinstance(node, Any_):
        return or_(false(), *(sqlite_condition(i) for i in node.items))
    assert isinstance(node, Exclude)
    return not_(sqlite_condition(node.item))


# --- PostgreSQL: tsvector -----------------------------------------------------------------------


def _tsphrase(tokens: list[str]) -> str:
    return " <-> ".join(f"'{t}'" for t in tokens)


def _free_text(node: Expr) -> bool:
    """Whether ``doc @@ tsquery(node)`` is exactly ``node`` (free words, and/or/not of them)."""
    if isinstance(node, Words):
        return node.field is None and bool(node.tokens)
    if isinstance(node, All | Any_):
        return bool(node.items) and all(_free_text(i) for i in node.items)
    if isinstance(node, Exclude):
        return _free_text(node.item)
    return False


def tsquery_of(node: Expr, top: bool = True) -> str | None:
    """A tsquery every match of ``node`` satisfies on ``doc`` (for the GIN index), or None.

    A field word of the top conjunction is left to :func:`fields_query_of` (a much shorter
    posting list); under OR it narrows here, as ``doc`` holds every field's words too.
    """
    if isinstance(node, Words):
        tokens = node.tokens
        if not tokens or (top and node.field):
            return None
        return f"({_tsphrase(tokens)})"
    if isinstance(node, All):
        found = [p for p in (tsquery_of(i, top) for i in node.items) if p is not None]
        return "(" + " & ".join(found) + ")" if found else None
    if isinstance(node, Any_):
        parts = [tsquery_of(i, False) for i in node.items]
        if not parts or any(p is None for p in parts):
            return None
        return "(" + " | ".join(p for p in parts if p) + ")"
    if isinstance(node, Exclude) and _free_text(node.item):
        inner = tsquery_of(node.item, False)
        return f"!{inner}" if inner else None
    return None


def fields_query_of(node: Expr) -> str | None:
    """A tsquery every match of ``node`` satisfies on ``fields`` (prefixed field words), or None."""
    if isinstance(node, Words):
        tokens = node.tokens
        if not tokens or node.field is None:
            return None
        prefix = fts.FIELD_PREFIX[node.field]
        return "(" + " & ".join(f"'{prefix}:{t}'" for t in tokens) + ")"
    if isinstance(node, All):
        found = [p for p in (fields_query_of(i) for i in node.items) if p is not None]
        return "(" + " & ".join(found) + ")" if found else None
    if isinstance(node, Any_):
        parts = [fields_query_of(i) for i in node.items]
        if not parts or any(p is None for p in parts):
            return None
        return "(" + " | ".join(p for p in parts if p) + ")"
    return None


def _ts(query: str) -> ColumnElement[Any]:
    return literal(query).cast(TSQUERY)


def pg_condition(node: Expr) -> ColumnElement[bool]:
    """An exact SQL condition on ``messages m`` / ``search_docs s`` for any node."""
    common = _common(node)
    if common is not None:
        return common
    if isinstance(node, Words):
        tokens = node.tokens
        if not tokens:
            return true()
        vector = pg_docs.c[node.field] if node.field else pg_docs.c.doc
        return vector.op("@@")(_ts(_tsphrase(tokens)))
    if isinstance(node, Received):
        terms = []
        if node.after is not None:
            terms.append(pg_docs.c.received_at >= node.after)
        if node.before is not None:
            terms.append(pg_docs.c.received_at < node.before)
        return and_(true(), *terms)
    if isinstance(node, All):
        return and_(true(), *(pg_condition(i) for i in node.items))
    if isinstance(node, Any_):
        return or_(false(), *(pg_condition(i) for i in node.items))
    assert isinstance(node, Exclude)
    return not_(pg_condition(node.item))


@dataclass(frozen=True, slots=True)
class PgText:
    """The WHERE terms of a search on PostgreSQL and the tsqueries the GIN indexes narrow with."""

    terms: list[ColumnElement[bool]]
    doc_query: str | None  # on ``doc`` (also what relevance ranks by)
    fields_query: str | None  # on ``fields``

    @property
    def narrowed(self) -> bool:
        return self.doc_query is not None or self.fields_query is not None

    def index_condition(self, doc_indexed: bool = False) -> tuple[str, dict[str, str]]:
        """The SQL of what the GIN indexes narrow with, and its parameters."""
        parts, params = [], {}
        if self.fields_query is not None:
            parts.append("fields @@ CAST(:f AS tsquery)")
            params["f"] = self.fields_query
        if self.doc_query is not None and (doc_indexed or self.fields_query is None):
            parts.append("doc @@ CAST(:q AS tsquery)")
            params["q"] = self.doc_query
        return " AND ".join(parts), params


def pg_where(expr: Expr, doc_indexed: bool = False) -> PgText:
    """The WHERE terms for ``expr``: exact rechecks, then the GIN-usable tsqueries. Beside field
    words, free words are a filter unless ``doc_indexed`` (their posting lists are short)."""
    query, fields_query = tsquery_of(expr), fields_query_of(expr)
    # The rechecks first: a field's vector is small and stored inline, ``doc`` is detoasted, and a
    # row tested on a date walk stops at the first false condition.
    terms = [pg_condition(i) for i in conjuncts(expr) if not _free_text(i)]
    if fields_query is not None:
        terms.append(pg_docs.c.fields.op("@@")(_ts(fields_query)))
        if query is not None and doc_indexed:
            terms.append(pg_docs.c.doc.op("@@")(_ts(query)))
        elif query is not None:
            # A filter, not a second GIN bitmap: the planner would add the posting list of every
            # free word to the field words' (46 ms for "linux" beside 2 ms for "from:garym").
            # The function form of ``@@`` is one no index matches.
            terms.append(func.ts_match_vq(pg_docs.c.doc, _ts(query)))
    elif query is not None:
        terms.append(pg_docs.c.doc.op("@@")(_ts(query)))
    return PgText(terms, query, fields_query)


class NewestFirstJoin(Join):
    """``left JOIN right`` whose left side SQLite must keep as the outer loop (``CROSS JOIN``).

    A search with no text term walks ``search_docs`` newest first and stops after a page; left to
    itself, SQLite's planner scans every message of the grant and sorts them instead (4.7 s for
    ``is:starred`` at 1,000,000 messages, 32 ms walking the docids).
    """

    inherit_cache = True


@compiles(NewestFirstJoin, "sqlite")
def _cross_join(element: NewestFirstJoin, compiler: SQLCompiler, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    assert element.onclause is not None
    on = compiler.process(element.onclause, **{k: v for k, v in kw.items() if k != "asfrom"})
    return f"{left} CROSS JOIN {right} ON {on}"


def newest_first_join(left: FromClause, right: FromClause, on: ColumnElement[bool]) -> Join:
    return NewestFirstJoin(left, right, on)


def keyset_after(sort: ColumnElement[Any], ident: ColumnElement[Any], key: tuple[int, str]) -> Any:
    return tuple_(sort, ident) < tuple_(literal(key[0]), literal(key[1]))


def rank_sqlite() -> ColumnElement[Any]:
    return func.bm25(literal_column("search_fts"), 10.0, 5.0, 3.0, 3.0, 3.0, 3.0, 1.0)


def pg_rank(text: PgText) -> ColumnElement[Any] | None:
    if text.doc_query is not None:
        return func.ts_rank(pg_docs.c.doc, _ts(text.doc_query))
    if text.fields_query is not None:
        return func.ts_rank(pg_docs.c.fields, _ts(text.fields_query))
    return None
