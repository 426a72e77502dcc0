"""The query language: parsing, planning, and the errors a caller sees (position and problem)."""

from __future__ import annotations

import pytest

from inboxsync.search.plan import FolderRef, compile_query
from inboxsync.search.query import And, Not, Operator, Or, QuerySyntaxError, Text, parse
from inboxsync.store.search import All, Any_, Exclude, Flag, InFolders, Received, Size, Words

FOLDERS = [FolderRef("f1", "inbox", "INBOX", "INBOX"), FolderRef("f2", None, "Work/Jobs", "Jobs")]
NOW = 1_700_000_000


def test_grammar() -> None:
    tree = parse('from:alice "quarterly report" (budget OR -draft) is:unread')
    assert tree == And(
        (
            Operator("from", "alice", 1),
            Text("quarterly report", True, 12),
            Or((Text("budget", False, 32), Not(Text("draft", False, 43), 42))),
            Operator("is", "unread", 50),
        )
    )
    assert parse('subject:"big news"') == Operator("subject", "big news", 1, True)
    assert parse("re:hello 10:30") == And((Text("re:hello", False, 1), Text("10:30", False, 10)))
    assert parse("a AND b") == And((Text("a", False, 1), Text("b", False, 7)))
    assert parse("a - b") == And((Text("a", False, 1), Text("-", False, 3), Text("b", False, 5)))


def test_plan() -> None:
    expr = compile_query(
        "FROM:bob in:inbox label:jobs has:attachment larger:10M smaller:2k "
        "after:2024/01/02 before:2024-02-01 newer_than:2d older_than:1y is:read",
        FOLDERS,
        NOW,
    )
    assert expr == All(
        (
            Words("bob", "sender"),
            InFolders(("f1",)),
            InFolders(("f2",)),
            Flag("has_attachments", True),
            Size(larger=10 * 1024**2),
            Size(smaller=2048),
            Received(after=1_704_153_600),
            Received(before=1_706_745_600),
            Received(after=NOW - 2 * 86400),
            Received(before=NOW - 365 * 86400),
            Flag("unread", False),
        )
    )
    assert compile_query("in:nowhere", FOLDERS, NOW) == InFolders(())
    assert compile_query("a OR (b OR c) -(d e)", FOLDERS, NOW) == All(
        (Any_((Words("a"), Words("b"), Words("c"))), Exclude(All((Words("d"), Words("e"))))),
    ) or compile_query("a OR (b OR c)", FOLDERS, NOW) == Any_((Words("a"), Words("b"), Words("c")))
    assert compile_query("hello !!!", FOLDERS, NOW) == Words("hello")


@pytest.mark.parametrize(
    ("query", "position", "problem"),
    [
        ("", 0, "is empty"),
        ('"open phrase', 1, 'the quote " is never closed'),
        ("(a OR b", 1, "this ( is never closed"),
        ("a b)", 4, "this ) has no ( to close"),
        ("a OR", 3, "OR needs a term after it"),
        ("OR a", 1, "OR needs a term before it"),
        ("a AND", 3, "AND needs a term on each side"),
        ("()", 1, "the parentheses are empty"),
        ("from: bob", 1, "from: needs a value"),
        ("is:flagged", 1, "is: knows is:unread, is:read, is:starred, is:unstarred, not 'flagged'"),
        ("has:drive", 1, "has: knows only has:attachment, not 'drive'"),
        ("x before:yesterday", 3, "before: wants a date like 2024/01/31, not 'yesterday'"),
        ("older_than:2x", 1, "older_than: wants a count and d/w/m/y, like 2d, not '2x'"),
        ("larger:big", 1, "larger: wants a size like 10M or 500K, not 'big'"),
        ("(" * 40 + "a" + ")" * 40, 33, "more than 32 nested parentheses"),
    ],
)
def test_errors(query: str, position: int, problem: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query, FOLDERS, NOW)
    assert (caught.value.position, caught.value.problem) == (position, problem)
    assert problem in str(caught.value)
