"""Gmail history records -> what to change locally (sans-IO).

``history.list`` returns records in history-id order; each holds ``messagesAdded``, ``messagesDeleted``,
``labelsAdded`` or ``labelsRemoved`` entries (https://developers.google.com/gmail/api/reference/rest/v1/users.history).
They are folded in order into the final state of each message: a message added then deleted inside the
window is never fetched; label changes of a stored message become its new label set; a label change of a
message we have never seen means we missed it, so it is fetched.

History ids are unsigned 64-bit integers: they are compared as ``int``, never as strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

UINT64_MAX = (1 << 64) - 1


def history_id(value: object) -> int:
    """A history id from Google's JSON (a decimal string) as an int in [0, 2^64)."""
    number = int(str(value))
    if not 0 <= number <= UINT64_MAX:
        raise ValueError(f"history id out of range: {value!r}")
    return number


@dataclass
class HistoryPlan:
    fetch: list[str] = field(default_factory=list)  # new to us: download (labels come with them)
    deleted: list[str] = field(default_factory=list)  # stored, gone at Google
    labels: dict[str, set[str]] = field(default_factory=dict)  # stored, with a new label set
    vanished: list[str] = field(default_factory=list)  # deleted, never stored as a message of ours
    # (the Gmail copy of a draft written through our API, say: the draft goes with it)


def involved(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every message id the records mention (to look up what is stored)."""
    out: set[str] = set()
    for record in records:
        for kind in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"):
            for entry in record.get(kind, []):
                out.add(str(entry["message"]["id"]))
    return out


def plan(records: Iterable[Mapping[str, Any]], known: Mapping[str, set[str]]) -> HistoryPlan:
    """Fold the records (in history-id order) over ``known`` (stored id -> label set)."""
    state: dict[str, set[str] | None] = {}
    fetch: dict[str, None] = {}
    ordered = sorted(records, key=lambda r: history_id(r["id"]))
    for record in ordered:
        for kind in ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved"):
            for entry in record.get(kind, []):
                message = entry["message"]
                mid = str(message["id"])
                current = state[mid] if mid in state else known.get(mid)
                if kind == "messagesDeleted":
                    state[mid] = None
                    fetch.pop(mid, None)
                elif kind == "messagesAdded":
                    if mid not in known and state.get(mid, set()) is not None:
                        fetch[mid] = None
                    state[mid] = set(message.get("labelIds", []))
                elif current is None:
                    if mid not in state:  # a change to a message we never saw: fetch it
                        fetch[mid] = None
                        state[mid] = set(message.get("labelIds", []))
                else:
                    changed = set(entry.get("labelIds", []))
                    state[mid] = current | changed if kind == "labelsAdded" else current - changed
    result = HistoryPlan(fetch=[m for m in fetch if state.get(m) is not None])
    for mid, labels in state.items():
        if labels is None and mid not in known:
            result.vanished.append(mid)
        if mid not in known or mid in fetch:
            continue
        if labels is None:
            result.deleted.append(mid)
        elif labels != known[mid]:
            result.labels[mid] = labels
    return result
