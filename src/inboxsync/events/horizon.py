"""The visibility horizon: the highest change id below which no change can still appear.

On SQLite one writer at a time holds the database from its first write to its commit, so ids become
visible in order and every committed id is safe: the horizon is "no limit".

On PostgreSQL ids come from a sequence at insert time, so a reader could see id 11 committed while
id 10 belongs to a transaction still running; a cursor moved to 11 would skip 10 for ever. The rule
(``docs/adr/0005-change-log-and-delivery.md``): read the sequence's ``last_value`` L, then the set W
of transactions holding the RowExclusiveLock on ``changes`` (every inserter takes it before drawing
an id and keeps it to its end). Once none of W is still there, every id <= L is committed or will
never be, and L is the horizon. Only transactions that write changes are waited for; with none in
flight, L is safe at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from inboxsync.store import deliveries
from inboxsync.store.db import Database


@dataclass
class Horizon:
    """Tracks the horizon of one database (one sample, two small queries, per call)."""

    db: Database
    _waiting: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    _safe: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> int | None:
        """The highest safe change id, or ``None`` when every committed id is safe (SQLite)."""
        if self.db.is_sqlite:
            return None
        async with self._lock:
            async with self.db.session() as session:
                last, writers = await deliveries.pg_sample(session)
            waiting = [*self._waiting, (last, writers)]
            keep = []
            for value, holders in waiting:
                if holders & writers:
                    keep.append((value, holders & writers))
                else:
                    self._safe = max(self._safe, value)
            self._waiting = [(v, h) for v, h in keep if v > self._safe][-64:]
            return self._safe

    async def wait_settled(self, within: float = 1.0) -> int | None:
        """The horizon once it covers every id handed out before this call (tests)."""
        if self.db.is_sqlite:
            return None
        deadline = time.monotonic() + within
        async with self.db.session() as session:
            target, _ = await deliveries.pg_sample(session)
        while True:
            safe = await self.current()
            if (safe or 0) >= target or time.monotonic() > deadline:
                return safe
            await asyncio.sleep(0.01)
