"""History records -> local changes (sans-IO), including uint64 ids that do not sort as strings."""

from __future__ import annotations

from typing import Any

import pytest

from inboxsync.sync.gmail.history import history_id, plan


def rec(
    hid: int, kind: str, mid: str, labels: list[str] | None = None, now: list[str] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"message": {"id": mid, "threadId": mid, "labelIds": now or []}}
    if labels is not None:
        entry["labelIds"] = labels
    return {"id": str(hid), kind: [entry]}


def test_records_apply_in_numeric_order_across_a_digit_boundary() -> None:
    a, b = 9_999_999_999_999_999_999, 10_000_000_000_000_000_001  # "1…" < "9…" as strings
    records = [rec(b, "labelsRemoved", "m1", ["INBOX"]), rec(a, "labelsAdded", "m1", ["INBOX"])]
    # Added at a, removed at b: back where it was (sorted as strings it would end in INBOX).
    assert plan(records, {"m1": {"UNREAD"}}).labels == {}
    assert plan(list(reversed(records)), {"m1": {"UNREAD"}}).labels == {}
    assert plan(records[1:], {"m1": {"UNREAD"}}).labels == {"m1": {"UNREAD", "INBOX"}}


def test_added_then_deleted_is_never_fetched_and_deletions_of_stored_are_reported() -> None:
    records = [
        rec(5, "messagesAdded", "new", now=["INBOX"]),
        rec(6, "messagesDeleted", "new"),
        rec(7, "messagesDeleted", "old"),
    ]
    result = plan(records, {"old": {"INBOX"}})
    assert result.fetch == [] and result.deleted == ["old"] and result.labels == {}


def test_label_change_of_an_unknown_message_fetches_it() -> None:
    result = plan([rec(3, "labelsAdded", "missed", ["STARRED"], now=["INBOX", "STARRED"])], {})
    assert result.fetch == ["missed"]


def test_history_ids_are_unsigned_64_bit() -> None:
    assert history_id("18446744073709551615") == 2**64 - 1
    with pytest.raises(ValueError):
        history_id(str(2**64))
    with pytest.raises(ValueError):
        history_id("-1")
