"""Gmail's per-user quota: 15,000 units per user per minute, each method with its documented cost.

https://developers.google.com/gmail/api/reference/quota. A batch of n requests costs the sum of its
parts. One :class:`TokenBucket` per user (:func:`bucket_for`) is shared by everything that works for
that grant in the process: sync, write-back and sending all draw from it, so together they stay within
the limit instead of each assuming it has the whole quota.
"""

from __future__ import annotations

import asyncio
import time

PER_MINUTE = 15_000

UNITS = {
    "drafts.create": 10,
    "drafts.delete": 10,
    "drafts.get": 5,
    "drafts.list": 5,
    "drafts.send": 100,
    "drafts.update": 15,
    "getProfile": 1,
    "history.list": 2,
    "labels.create": 5,
    "labels.delete": 5,
    "labels.get": 1,
    "labels.list": 1,
    "labels.patch": 5,
    "labels.update": 5,
    "messages.batchDelete": 50,
    "messages.batchModify": 50,
    "messages.delete": 10,
    "messages.get": 5,
    "messages.list": 5,
    "messages.modify": 5,
    "messages.send": 100,
    "messages.trash": 5,
    "messages.untrash": 5,
    "stop": 50,
    "watch": 100,
}


class TokenBucket:
    """``capacity`` units, refilled at ``rate`` units a second; :meth:`acquire` waits its turn.

    Waiters are served in order (a lock), so a large request is not starved by small ones.
    :meth:`pause` stops everyone for a while after the server said 429.
    """

    def __init__(self, capacity: float = PER_MINUTE, rate: float = PER_MINUTE / 60.0) -> None:
        self.capacity = capacity
        self.rate = rate
        self.level = capacity
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting for units (for reports)

    def _fill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, units: float) -> None:
        units = min(units, self.capacity)
        async with self._lock:
            while True:
                now = time.monotonic()
                self._fill(now)
                delay = max(self.paused_until - now, (units - self.level) / self.rate)
                if delay <= 0:
                    self.level -= units
                    return
                self.waited += delay
                await asyncio.sleep(delay)

    def pause(self, seconds: float) -> None:
        """Nobody draws for ``seconds`` (the server throttled us); the level drains to zero."""
        now = time.monotonic()
        self._fill(now)
        self.level = 0.0
        self.paused_until = max(self.paused_until, now + seconds)


_buckets: dict[str, TokenBucket] = {}


def bucket_for(user: str) -> TokenBucket:
    """The process-wide bucket of one user (a grant id)."""
    bucket = _buckets.get(user)
    if bucket is None:
        bucket = _buckets[user] = TokenBucket()
    return bucket


def forget(user: str) -> None:
    _buckets.pop(user, None)
