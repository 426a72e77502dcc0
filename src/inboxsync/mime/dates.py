"""Dates (RFC 5322 with the obsolete forms) and message ids.

Dates use ``email.utils.parsedate_tz`` (two-digit years, named zones, missing weekday, odd spacing),
with an ISO 8601 fallback; the result is tz-aware UTC or None. Message ids are normalised to ``<...>``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

MAX_REFERENCES = 500
"""Ids kept from one References header (the newest ones)."""

_ISO = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:T|\s+(?:[A-Za-z]{3},?\s+)?)(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_MAX_OFFSET = 18 * 3600


def parse_date(value: str | None) -> datetime | None:
    """A header date as tz-aware UTC, or None when there is nothing usable."""
    if not value or not value.strip():
        return None
    text = " ".join(value.split())[:200]
    try:
        parts = parsedate_tz(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        parts = None
    if parts is not None:
        year, month, day, hour, minute, second = parts[:6]
        offset = parts[9] or 0
        try:
            local = datetime(year, month, day, min(hour, 23), min(minute, 59), min(second, 59))
        except (ValueError, OverflowError):
            local = None
        if local is not None:
            if abs(offset) > _MAX_OFFSET:
                offset = 0
            try:
                return (local - timedelta(seconds=offset)).replace(tzinfo=UTC)
            except OverflowError:
                return None
    return _parse_iso(text)


def _parse_iso(text: str) -> datetime | None:
    match = _ISO.search(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * 60 * (-1 if zone[0] == "-" else 1)
    try:
        return (local - timedelta(seconds=offset)).replace(tzinfo=UTC)
    except OverflowError:
        return None


def received_date(values: list[str]) -> datetime | None:
    """The date of the newest (first) Received header that has one: what follows its last ';'."""
    for value in values:
        _, semicolon, stamp = value.rpartition(";")
        if semicolon:
            found = parse_date(stamp)
            if found is not None:
                return found
    return None


_ID = re.compile(r"<([^<>]*)>")


def message_ids(value: str | None, limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """All ids in a Message-ID / In-Reply-To / References value as ``<local@domain>``, deduplicated."""
    if not value:
        return ()
    found = [m.group(1) for m in _ID.finditer(value)]
    if not found:
        found = [word for word in value.replace(",", " ").split() if "@" in word]
        if not found and value.strip() and " " not in value.strip():
            found = [value.strip()]
    out: dict[str, None] = {}
    for item in found:
        cleaned = "".join(item.split()).strip("<>")
        if cleaned:
            out[f"<{cleaned}>"] = None
    ids = tuple(out)
    return ids[-limit:] if len(ids) > limit else ids


def first_id(value: str | None) -> str | None:
    """The first id of a Message-ID or In-Reply-To value, or None."""
    ids = message_ids(value, limit=10**9)
    return ids[0] if ids else None
