"""Encoding IMAP commands: quoting, literals, mailbox names, flag lists, dates, UID sets (sans-IO)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal as TypingLiteral
from typing import TypeAlias

from inboxsync.providers.imap import mutf7
from inboxsync.providers.imap.uidset import UidSet

__all__ = [
    "Arg",
    "Literal",
    "LiteralMode",
    "encode_command",
    "flag_list",
    "imap_date",
    "mailbox",
    "quote",
    "uid_set",
]

LiteralMode: TypeAlias = TypingLiteral["sync", "plus", "minus"]
_ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|~]+")  # ATOM-CHAR minus "%*]\\" (conservative)
_QUOTABLE = re.compile(r"[\x20-\x7e]*")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class Literal:
    """Bytes sent as an IMAP literal ``{N}``; ``repr`` never shows them (they may be a password)."""

    data: bytes

    def __repr__(self) -> str:
        return f"Literal(<{len(self.data)} bytes>)"


Arg: TypeAlias = str | Literal


def quote(value: str) -> Arg:
    """An ``astring``: an atom if safe, else a quoted string, else (CR, LF, 8-bit) a literal."""
    if _ATOM.fullmatch(value) and value.upper() != "NIL":
        return value
    if _QUOTABLE.fullmatch(value) and len(value) < 1000:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Literal(value.encode("utf-8"))


def mailbox(name: str, utf8: bool = False) -> Arg:
    """A mailbox name, modified-UTF-7 encoded unless the server accepts UTF-8 (RFC 6855)."""
    if name.upper() == "INBOX":
        return "INBOX"
    return quote(name if utf8 else mutf7.encode(name))


def flag_list(flags: Iterable[str]) -> str:
    return "(" + " ".join(flags) + ")"


def imap_date(when: datetime) -> str:
    """``"17-Jul-1996 02:44:25 -0700"`` (English month names whatever the locale)."""
    if when.tzinfo is None:
        when = when.astimezone()
    offset = when.strftime("%z") or "+0000"
    return f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} {when:%H:%M:%S} {offset}"'


def uid_set(uids: UidSet | str | Iterable[int]) -> str:
    """``UidSet``, an explicit ``"1:*"``-style string, or any iterable of UIDs."""
    if isinstance(uids, str):
        if not re.fullmatch(r"[0-9:,*]+", uids):
            raise ValueError(f"not a sequence set: {uids!r}")
        return uids
    s = uids if isinstance(uids, UidSet) else UidSet.of(uids)
    if not s:
        raise ValueError("empty UID set")
    return str(s)


def encode_command(tag: str, words: Sequence[Arg], mode: LiteralMode = "sync") -> list[bytes]:
    """Encode ``tag word word ...\\r\\n``.

    Returns the pieces to send: after each piece but the last, the client must wait for the server's
    ``+`` continuation (a synchronising literal). With ``mode="plus"`` (LITERAL+) there is one piece;
    with ``"minus"`` (LITERAL-) literals up to 4096 bytes are non-synchronising.
    """
    pieces: list[bytes] = []
    current = bytearray(tag.encode("ascii"))
    for word in words:
        current += b" "
        if isinstance(word, Literal):
            size = len(word.data)
            nonsync = mode == "plus" or (mode == "minus" and size <= 4096)
            current += b"{%d%s}\r\n" % (size, b"+" if nonsync else b"")
            if not nonsync:
                pieces.append(bytes(current))
                current = bytearray()
            current += word.data
        else:
            current += word.encode("utf-8")
    current += b"\r\n"
    pieces.append(bytes(current))
    return pieces
