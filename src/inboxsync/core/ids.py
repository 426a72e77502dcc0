"""Opaque, URL-safe, time-ordered identifiers.

26 characters of Crockford base32 (lower case): 48 bits of milliseconds then 80 random bits, so ids
sort roughly by creation time (good for index locality) and never contain ``/`` or ``%``.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id() -> str:
    """A new 26-character id."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id we hand out (cheap check before a query)."""
    return 1 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)
