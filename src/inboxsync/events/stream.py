"""The change stream (our addition to the Nylas API): changes after a cursor, with long-poll.

A cursor is the id of the last change the reader has seen ("0": from the oldest kept). Reads stop
at the visibility horizon (:mod:`inboxsync.events.horizon`), so a cursor never passes a change that
commits later; a cursor older than the prune watermark has expired (the changes it needs are gone).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from inboxsync.errors import InvalidRequest
from inboxsync.events.horizon import Horizon
from inboxsync.events.types import change_type
from inboxsync.store import deliveries
from inboxsync.store.db import Database
from inboxsync.store.models import Change

POLL = 0.5  # seconds between looks for changes committed by other processes (ours wake us at once)


class CursorExpired(InvalidRequest):
    """The cursor points before the oldest change still kept."""


def parse_cursor(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 19:
        raise InvalidRequest(f"cursor must be a change id from this stream, not {value[:40]!r}")
    return int(value)


def item(change: Change) -> dict[str, Any]:
    return {
        "object": "change",
        "id": str(change.id),
        "cursor": str(change.id),
        "grant_id": change.grant_id,
        "type": change_type(change.object_type, change.event),
        "object_type": change.object_type,
        "object_id": change.object_id,
        "event": change.event,
        "fields": list(change.fields or []),
        "created_at": int(change.created_at),
    }


async def read(
    db: Database,
    horizon: Horizon,
    grant_ids: Sequence[str] | None,
    cursor: int,
    limit: int,
    wait: float = 0.0,
) -> list[Change]:
    """Changes after ``cursor`` (waiting up to ``wait`` seconds for the first one)."""
    deadline = time.monotonic() + wait
    while True:
        upto = await horizon.current()
        async with db.session() as session:
            pruned = await deliveries.position(session, deliveries.PRUNED)
            if cursor < pruned:
                raise CursorExpired(
                    f"cursor {cursor} has expired: changes up to {pruned} were pruned"
                )
            rows = await deliveries.changes_between(session, cursor, upto, limit, grant_ids)
        if rows or time.monotonic() >= deadline:
            return rows
        await db.wait_for_changes(min(POLL, max(0.0, deadline - time.monotonic())))
