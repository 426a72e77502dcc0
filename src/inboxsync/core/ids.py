"""Opaque, URL-safe, time-ordered identifiers.

26 characters of Crockford base32 (lower case): 48 bits of milliseconds then 80 random bits, so ids
sort by creation time (good for index locality) and never contain ``/`` or ``%``. The random part
comes from a generator seeded from the OS once per process: ids need to be unique, not secret, and a
system call per id showed up when first sync creates tens of thousands of rows.
"""

from __future__ import annotations

import base64
import os
import random
import time

_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_TO_CROCKFORD = str.maketrans(_RFC4648, _CROCKFORD)
_rng = random.Random(os.urandom(32))


def _reseed_after_fork() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_id() -> str:
    """A new 26-character id."""
    value = (time.time_ns() // 1_000_000 << 80) | _rng.getrandbits(80)
    # 20 bytes = 32 base32 characters; the value fits in the last 26 (130 bits).
    return base64.b32encode(value.to_bytes(20, "big")).decode()[6:].translate(_TO_CROCKFORD)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id we hand out (cheap check before a query)."""
    return 1 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
