"""Builds typed responses (:mod:`responses`) from the pieces of one complete IMAP response."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from inboxsync.errors import ProtocolError
from inboxsync.providers.imap import mutf7
from inboxsync.providers.imap.lexer import as_int, as_str, atom_text, flags_of, parse_code, tokenize
from inboxsync.providers.imap.responses import (
    Capability,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flags,
    ListEntry,
    MailboxStatus,
    Other,
    Recent,
    Response,
    Search,
    Streamed,
    Tagged,
    UntaggedStatus,
    Value,
    Vanished,
)
from inboxsync.providers.imap.uidset import UidSet

__all__ = ["build_response", "parse_internaldate"]

_STATUS = re.compile(
    rb"([^ ]+) +(OK|NO|BAD|PREAUTH|BYE)(?![^ \[])(?: *\[([^\]]*)\])? *(.*?) *\Z", re.I | re.S
)
_NUMBERED = re.compile(rb"\* +(\d+) +([A-Za-z][A-Za-z0-9.-]*) *", re.I)
_NAMED = re.compile(rb"\* +([A-Za-z][A-Za-z0-9._-]*) *", re.I)
_DATE = re.compile(
    r" *(\d{1,2})-([A-Za-z]{3})-(\d{4}) +(\d{1,2}):(\d\d):(\d\d)(?: +([+-])(\d\d)(\d\d))?"
)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_ZONES: dict[tuple[str, str, str], timezone] = {}


def parse_internaldate(text: str) -> datetime | None:
    """``17-Jul-1996 02:44:25 -0700`` → aware datetime; ``None`` if it is not one (never raises)."""
    m = _DATE.match(text)
    if m is None:
        return None
    day, mon, year, hh, mm, ss, sign, zh, zm = m.groups()
    month = _MONTHS.get(mon.upper())
    if month is None:
        return None
    key = (sign or "+", zh or "00", zm or "00")
    tz = _ZONES.get(key)
    if tz is None:
        offset = timedelta(hours=int(key[1]), minutes=int(key[2]))
        tz = _ZONES[key] = timezone(-offset if key[0] == "-" else offset)
    try:
        return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=tz)
    except ValueError:
        return None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def build_response(parts: Sequence[bytes | Streamed], utf8_names: bool = False) -> Response:
    """Build one response; :class:`ProtocolError` if it cannot be understood."""
    first = parts[0]
    assert isinstance(first, bytes)
    if first[:1] == b"+":
        return Continuation(first[2:] if first[1:2] == b" " else first[1:])
    if len(parts) == 1:
        m = _STATUS.match(first)
        if m is not None:
            tag, status, code, text = m.groups()
            word = status.upper().decode()
            parsed_code = parse_code(code) if code is not None else None
            if tag == b"*":
                return UntaggedStatus(word, parsed_code, _text(text))  # type: ignore[arg-type]  # word is one of the five, by the regex
            if word in ("OK", "NO", "BAD"):
                return Tagged(atom_text(tag), word, parsed_code, _text(text))  # type: ignore[arg-type]  # checked just above
            raise ProtocolError(f"{word} cannot be tagged: {first[:120]!r}")
    if first[:1] != b"*":
        raise ProtocolError(f"cannot parse response {first[:120]!r}")
    m = _NUMBERED.match(first)
    if m is not None:
        number = int(m.group(1))
        name = m.group(2).upper().decode()
        if name == "FETCH":
            return _fetch(number, tokenize(parts, m.end()), utf8_names)
        if name == "EXISTS":
            return Exists(number)
        if name == "EXPUNGE":
            return Expunge(number)
        if name == "RECENT":
            return Recent(number)
        return Other(name, number, tokenize(parts, m.end()))
    m = _NAMED.match(first)
    if m is None:
        raise ProtocolError(f"cannot parse untagged response {first[:120]!r}")
    name = m.group(1).upper().decode()
    values = tokenize(parts, m.end())
    try:
        return _untagged(name, values, utf8_names)
    except (IndexError, ValueError) as exc:
        raise ProtocolError(f"malformed {name} response {first[:120]!r}") from exc


def _untagged(name: str, values: list[Value], utf8_names: bool) -> Response:
    if name == "CAPABILITY":
        return Capability(frozenset(as_str(v).upper() for v in values))
    if name in ("LIST", "LSUB", "XLIST"):
        return _list(values, name == "LSUB", utf8_names)
    if name == "FLAGS":
        return Flags(flags_of(values[0] if values else None))
    if name == "VANISHED":
        earlier = isinstance(values[0], list) and "EARLIER" in (
            as_str(v).upper() for v in values[0]
        )
        return Vanished(UidSet.parse(as_str(values[-1])), earlier)
    if name == "STATUS":
        return _status(values, utf8_names)
    if name == "SEARCH":
        modseq = None
        last = values[-1] if values else None
        if isinstance(last, list):
            values.pop()
            modseq = as_int(last[-1])
        return Search(tuple(as_int(v) for v in values), modseq)
    if name == "ESEARCH":
        return _esearch(values)
    if name == "ENABLED":
        return Enabled(frozenset(as_str(v).upper() for v in values))
    return Other(name, None, values)


def _mailbox(value: Value, utf8_names: bool) -> tuple[str, str]:
    raw = as_str(value)
    if raw.upper() == "INBOX":
        return "INBOX", raw
    return (raw if utf8_names else mutf7.decode_lenient(raw)), raw


def _label(value: Value, utf8_names: bool) -> str:
    text = as_str(value)
    return text if text.startswith("\\") else _mailbox(text, utf8_names)[0]


def _list(values: list[Value], lsub: bool, utf8_names: bool) -> ListEntry:
    flags = flags_of(values[0])
    delimiter = None if values[1] is None else as_str(values[1])
    name, raw = _mailbox(values[2], utf8_names)
    return ListEntry(flags, delimiter, name, raw, lsub)


def _status(values: list[Value], utf8_names: bool) -> MailboxStatus:
    name, _ = _mailbox(values[0], utf8_names)
    items = values[1] if len(values) > 1 and isinstance(values[1], list) else []
    found: dict[str, int] = {}
    for i in range(0, len(items) - 1, 2):
        found[as_str(items[i]).lower()] = as_int(items[i + 1])
    return MailboxStatus(
        name,
        messages=found.get("messages"),
        recent=found.get("recent"),
        uidnext=found.get("uidnext"),
        uidvalidity=found.get("uidvalidity"),
        unseen=found.get("unseen"),
        highestmodseq=found.get("highestmodseq"),
    )


def _esearch(values: list[Value]) -> ESearch:
    tag = None
    i = 0
    if values and isinstance(values[0], list):
        correlator = values[0]
        if len(correlator) >= 2 and as_str(correlator[0]).upper() == "TAG":
            tag = as_str(correlator[1])
        i = 1
    uid = False
    if i < len(values) and isinstance(values[i], str) and as_str(values[i]).upper() == "UID":
        uid = True
        i += 1
    found: dict[str, Value] = {}
    while i + 1 < len(values):
        found[as_str(values[i]).upper()] = values[i + 1]
        i += 2

    def number(key: str) -> int | None:
        return as_int(found[key]) if key in found else None

    all_ = UidSet.parse(as_str(found["ALL"])) if "ALL" in found else None
    return ESearch(tag, uid, number("MIN"), number("MAX"), number("COUNT"), all_, number("MODSEQ"))


def _unwrap(items: list[Value]) -> list[Value]:
    flat: list[Value] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, list):
            flat.extend(item)
            i += 1
        else:
            flat.extend(items[i : i + 2])
            i += 2
    return flat


def _fetch(seq: int, values: list[Value], utf8_names: bool) -> Fetch:
    items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    if any(isinstance(item, list) for item in items[::2]):
        # Domino wraps some items in extra parentheses: "(UID 5 (ENVELOPE (...)) ...)".
        items = _unwrap(items)
    uid = flags = modseq = internaldate = size = msgid = thrid = labels = None
    bodies: dict[str, bytes | Streamed | None] = {}
    extra: dict[str, Value] = {}
    try:
        for i in range(0, len(items) - 1, 2):
            key = items[i]
            if not isinstance(key, str):
                raise ProtocolError(f"FETCH item name expected, got {key!r}")
            key = key.upper()
            value = items[i + 1]
            if key == "UID":
                uid = as_int(value)
            elif key == "FLAGS":
                flags = flags_of(value)
            elif key.startswith(("BODY[", "BINARY[", "RFC822")) and key != "RFC822.SIZE":
                if isinstance(value, str):
                    value = value.encode("utf-8", "surrogateescape")
                elif isinstance(value, list):
                    raise ProtocolError(f"{key} is a list")
                bodies[key] = value
            elif key == "RFC822.SIZE":
                size = as_int(value)
            elif key == "MODSEQ":
                modseq = as_int(value[0] if isinstance(value, list) else value)
            elif key == "INTERNALDATE":
                internaldate = parse_internaldate(as_str(value))
            elif key == "X-GM-MSGID":
                msgid = as_int(value)
            elif key == "X-GM-THRID":
                thrid = as_int(value)
            elif key == "X-GM-LABELS":
                labels = tuple(
                    _label(v, utf8_names)
                    for v in (value if isinstance(value, list) else [value])
                    if v is not None
                )
            else:
                extra[key] = value
    except IndexError as exc:
        raise ProtocolError(f"malformed FETCH response for message {seq}") from exc
    return Fetch(seq, uid, flags, modseq, internaldate, size, bodies, msgid, thrid, labels, extra)
