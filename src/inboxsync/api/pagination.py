"""Opaque page tokens for keyset pages, and the ``limit`` rule.

A token is base64url of ``<kind>.<sort value>.<id>``: the sort key of the last row served. It names a
position, not an offset, so it stays valid (and the pages stay disjoint) while new mail arrives.
"""

from __future__ import annotations

import base64
import binascii

from inboxsync.core.ids import is_valid_id
from inboxsync.errors import InvalidRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(kind: str, key: tuple[int, str] | None) -> str | None:
    """The token for the page after ``key`` (None when there is no next page)."""
    if key is None:
        return None
    raw = f"{kind}.{key[0]}.{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, token: str | None) -> tuple[int, str] | None:
    """The key a token names; a token that is not ours (or of another list) is a 400."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        token_kind, value, ident = text.split(".", 2)
        number = int(value)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidRequest("page_token is not a token this server issued") from exc
    if token_kind != kind or not is_valid_id(ident) or abs(number) >= 2**62:
        raise InvalidRequest("page_token is not a token of this list")
    return number, ident


def check_limit(limit: int | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}")
    return limit
