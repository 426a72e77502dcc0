"""From a parsed query to a store search expression: operator values checked, dates and folders resolved.

Sans-IO: the caller passes the grant's folders and the current time. ``in:`` and ``label:`` match a
folder by id, role (``inbox``), path or name (case-insensitive); an unknown one matches nothing, as in
Gmail. Dates are UTC days (``after:`` inclusive, ``before:`` exclusive); ``older_than:``/``newer_than:``
count ``d``/``w``/``m`` (30 days)/``y`` (365 days) back from now; sizes take ``K``/``M``/``G`` (powers of
1024) or bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from inboxsync.search.query import And, Node, Not, Operator, Or, QuerySyntaxError, Text, parse
from inboxsync.store.search import (
    All,
    Any_,
    Exclude,
    Expr,
    Flag,
    InFolders,
    Received,
    Size,
    Words,
)

FIELD_OF = {
    "from": "sender",
    "to": "to_addr",
    "cc": "cc_addr",
    "bcc": "bcc_addr",
    "subject": "subject",
    "filename": "filename",
}
IS_VALUES = {
    "unread": Flag("unread", True),
    "read": Flag("unread", False),
    "starred": Flag("starred", True),
    "unstarred": Flag("starred", False),
}
_DURATION = re.compile(r"(\d{1,6})([dwmy])")
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
_SIZE = re.compile(r"(\d{1,12})([kmg]?)b?")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True, slots=True)
class FolderRef:
    id: str
    role: str | None
    path: str
    name: str


def _folders(value: str, folders: Sequence[FolderRef]) -> Expr:
    lowered = value.lower()
    if lowered in ("anywhere", "all"):
        return All(())
    for rank in range(4):
        found = tuple(
            f.id
            for f in folders
            if (rank == 0 and f.id == value)
            or (rank == 1 and (f.role or "") == lowered)
            or (rank == 2 and f.path.lower() == lowered)
            or (rank == 3 and f.name.lower() == lowered)
        )
        if found:
            return InFolders(found)
    return InFolders(())


def _day(op: Operator) -> int:
    value = op.value.strip()
    if value.isdigit() and len(value) >= 9:  # unix seconds, as Gmail also accepts
        return int(value)
    for fmt in ("%Y/%m/%d", "%Y-%m-%d", "%m/%d/%Y"):
        try:
            return int(datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise QuerySyntaxError(op.pos, f"{op.name}: wants a date like 2024/01/31, not {op.value!r}")


def _ago(op: Operator, now: int) -> int:
    m = _DURATION.fullmatch(op.value.strip().lower())
    if m is None:
        raise QuerySyntaxError(
            op.pos, f"{op.name}: wants a count and d/w/m/y, like 2d, not {op.value!r}"
        )
    return now - int(m.group(1)) * _DAYS[m.group(2)] * 86400


def _size(op: Operator) -> int:
    m = _SIZE.fullmatch(op.value.strip().lower())
    if m is None:
        raise QuerySyntaxError(
            op.pos, f"{op.name}: wants a size like 10M or 500K, not {op.value!r}"
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def _operator(op: Operator, folders: Sequence[FolderRef], now: int) -> Expr:
    name, value = op.name, op.value
    if name in FIELD_OF:
        return Words(value, FIELD_OF[name])
    if name == "has":
        if value.lower() not in ("attachment", "attachments"):
            raise QuerySyntaxError(op.pos, f"has: knows only has:attachment, not {value!r}")
        return Flag("has_attachments", True)
    if name == "is":
        flag = IS_VALUES.get(value.lower())
        if flag is None:
            known = ", ".join(f"is:{k}" for k in IS_VALUES)
            raise QuerySyntaxError(op.pos, f"is: knows {known}, not {value!r}")
        return flag
    if name in ("in", "label"):
        return _folders(value, folders)
    if name == "after":
        return Received(after=_day(op))
    if name == "before":
        return Received(before=_day(op))
    if name == "older_than":
        return Received(before=_ago(op, now))
    if name == "newer_than":
        return Received(after=_ago(op, now))
    if name == "larger":
        return Size(larger=_size(op))
    assert name == "smaller"
    return Size(smaller=_size(op))


def plan(node: Node, folders: Sequence[FolderRef], now: int) -> Expr:
    """The store expression of a parsed query (raises :class:`QuerySyntaxError` on a bad value)."""
    if isinstance(node, Text):
        return Words(node.value)
    if isinstance(node, Operator):
        return _operator(node, folders, now)
    if isinstance(node, Not):
        return Exclude(plan(node.item, folders, now))
    if isinstance(node, And):
        return All(tuple(plan(i, folders, now) for i in node.items))
    assert isinstance(node, Or)
    return Any_(tuple(plan(i, folders, now) for i in node.items))


def compile_query(query: str, folders: Sequence[FolderRef], now: int) -> Expr:
    """Parse and plan ``query``: the one entry point of the API and the CLI."""
    return simplify(plan(parse(query), folders, now))


def simplify(expr: Expr) -> Expr:
    """Flatten nested AND/OR, and drop words with nothing searchable in them (punctuation only)."""
    if isinstance(expr, All | Any_):
        kind = type(expr)
        items: list[Expr] = []
        for item in (simplify(i) for i in expr.items):
            if isinstance(item, kind):
                items.extend(item.items)
            elif not (isinstance(item, Words) and not item.tokens):
                items.append(item)
        if len(items) == 1:
            return items[0]
        return All(tuple(items)) if kind is All else Any_(tuple(items))
    if isinstance(expr, Exclude):
        return Exclude(simplify(expr.item))
    if isinstance(expr, Words) and not expr.tokens:
        return All(())
    return expr
