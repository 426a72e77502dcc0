"""The visibility horizon: the highest change id below which no change can still appear.

On SQLite one writer at a time holds the database from its first write to its commit, so ids become
visible in order and every committed id is safe: the horizon is "no limit".

On PostgreSQL ids come from a sequence at insert time, so a reader could see id 11 committed while
id 10 belongs to a transaction still running; a cursor moved to 11 would skip 10 for ever. The rule
(``docs/adr/0005-change-log-and-delivery.md``): read the sequence's ``last_value`` L at time t; take a
snapshot S at least ``settle`` seconds later (by then every transaction that drew an id <= L has an
xid, so it is in S's in-flight list or finished); once the oldest running transaction is at or
above S's xmax, every id <= L is committed or will never commit, and L is the horizon. With no long
transactions in flight this costs one ``settle`` plus one sample.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from inboxsync.store import deliveries
from inboxsync.store.db import Database


@dataclass
class _Sample:
    last_value: int
    at: float
    xmax: int | None = None  # of the first snapshot taken ``settle`` after ``at``


@dataclass
class Horizon:
    """Tracks the horizon of one database; cheap to call often (samples at most every ``settle``)."""

    db: Database
    settle: float = 0.005
    _samples: list[_Sample] = field(default_factory=list)
    _safe: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def current(self) -> int | None:
        """The highest safe change id, or ``None`` when every committed id is safe (SQLite)."""
        if self.db.is_sqlite:
            return None
        async with self._lock:
            await self._sample()
            return self._safe

    async def wait_settled(self, within: float = 1.0) -> int | None:
        """The horizon once it covers every id handed out before this call (tests, long polls)."""
        if self.db.is_sqlite:
            return None
        deadline = time.monotonic() + within
        async with self._lock:
            await self._sample()
            target = self._samples[-1].last_value if self._samples else self._safe
        while True:
            safe = await self.current()
            if (safe or 0) >= target or time.monotonic() > deadline:
                return safe
            await asyncio.sleep(self.settle)

    async def _sample(self) -> None:
        now = time.monotonic()
        async with self.db.session() as session:
            last_value, xmin, xmax = await deliveries.pg_sample(session)
        for sample in self._samples:
            if sample.xmax is None and now - sample.at >= self.settle:
                sample.xmax = xmax
        keep: list[_Sample] = []
        for sample in self._samples:
            if sample.xmax is not None and xmin >= sample.xmax:
                self._safe = max(self._safe, sample.last_value)
            else:
                keep.append(sample)
        if not keep or keep[-1].last_value != last_value or keep[-1].xmax is not None:
            keep.append(_Sample(last_value, now))
        self._samples = keep[-64:]
