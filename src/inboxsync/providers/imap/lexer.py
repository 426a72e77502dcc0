"""Turns the pieces of one IMAP response into generic values (see :data:`responses.Value`).

A response arrives as ``[segment, literal, segment, literal, ..., segment]``: each segment is a line without
its CRLF; every segment but the last ends with ``{N}`` and is followed by that literal's bytes (or a
:class:`Streamed` marker). Tokenising is one regex ``finditer`` per segment: no per-byte Python loop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from inboxsync.errors import ProtocolError
from inboxsync.providers.imap.responses import (
    AppendUid,
    Capability,
    Code,
    CopyUid,
    HighestModseq,
    Modified,
    PermanentFlags,
    ResponseCode,
    Streamed,
    UidNext,
    UidValidity,
    Unseen,
    Value,
)
from inboxsync.providers.imap.uidset import UidSet

__all__ = ["as_int", "as_str", "atom_text", "flags_of", "parse_code", "tokenize"]

# Groups: 1 "(", 2 ")", 3 quoted string body, 4 literal marker, 5 atom, 6 anything else.
# An atom may hold bracketed parts with spaces (BODY[HEADER.FIELDS (FROM TO)]<0>) and stray "]"
# (some servers' keywords); a lone "[" is accepted too ("[Gmail]/Sent" unquoted in X-GM-LABELS).
_TOKEN = re.compile(
    rb' +|(\()|(\))|"((?:[^"\\]|\\.)*)"|\{(\d+)\+?\} *\Z|((?:[^ ()"\[]|\[[^\]]*\]|\[)+)|(.)',
    re.DOTALL,
)
_UNESCAPE = re.compile(rb"\\(.)", re.DOTALL)


def atom_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _unescape(raw: bytes) -> bytes:
    return _UNESCAPE.sub(rb"\1", raw) if b"\\" in raw else raw


def tokenize(parts: Sequence[bytes | Streamed], start: int = 0) -> list[Value]:
    """Parse the values of ``parts``, beginning at byte ``start`` of the first segment."""
    root: list[Value] = []
    stack: list[list[Value]] = [root]
    cur = root
    n_parts = len(parts)
    for i in range(0, n_parts, 2):
        seg = parts[i]
        if not isinstance(seg, bytes):
            raise ProtocolError("literal where a line was expected")
        literal = parts[i + 1] if i + 1 < n_parts else None
        for m in _TOKEN.finditer(seg, start if i == 0 else 0):
            kind = m.lastindex
            if kind is None:
                continue
            if kind == 5:
                atom = m.group(5)
                cur.append(None if atom.upper() == b"NIL" else atom_text(atom))
            elif kind == 3:
                cur.append(_unescape(m.group(3)))
            elif kind == 1:
                new: list[Value] = []
                cur.append(new)
                stack.append(new)
                cur = new
            elif kind == 2:
                if len(stack) > 1:  # a stray ")" is ignored rather than fatal
                    stack.pop()
                    cur = stack[-1]
            elif kind == 4:
                if literal is None:
                    raise ProtocolError("literal announced at the end of a response")
                cur.append(literal)
                literal = None
            else:
                raise ProtocolError(f"unexpected byte {m.group(6)!r} in response {_excerpt(seg)}")
        if literal is not None:
            raise ProtocolError(f"literal not announced by its line {_excerpt(seg)}")
    return root


def _excerpt(seg: bytes) -> str:
    return repr(seg[:120])


def as_int(value: Value) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, bytes) and value.isdigit():  # quirk: numbers sent as quoted strings
        return int(value)
    raise ProtocolError(f"expected a number, got {value!r}")


def as_str(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise ProtocolError(f"expected a string, got {value!r}")


def flags_of(value: Value) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        return (as_str(value),)  # quirk: a single flag without parentheses
    return tuple(as_str(v) for v in value if v is not None)


def parse_code(raw: bytes) -> ResponseCode:
    """Parse the inside of ``[...]``: ``UIDVALIDITY 3857529045``, ``PERMANENTFLAGS (\\Seen \\*)``..."""
    name_b, _, rest = raw.strip().partition(b" ")
    name = atom_text(name_b).upper()
    try:
        if name in ("UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ", "UNSEEN"):
            number = int(rest.strip())
            if name == "UIDVALIDITY":
                return UidValidity(number)
            if name == "UIDNEXT":
                return UidNext(number)
            if name == "UNSEEN":
                return Unseen(number)
            return HighestModseq(number)
        if name == "PERMANENTFLAGS":
            values = tokenize([rest])
            return PermanentFlags(flags_of(values[0] if values else None))
        if name == "CAPABILITY":
            return Capability(frozenset(atom_text(c).upper() for c in rest.split()))
        if name == "APPENDUID":
            uv, uids = rest.split()
            return AppendUid(int(uv), UidSet.parse(uids))
        if name == "COPYUID":
            uv, src, dst = rest.split()
            return CopyUid(int(uv), UidSet.parse(src), UidSet.parse(dst))
        if name == "MODIFIED":
            return Modified(UidSet.parse(rest.strip()))
    except (ValueError, ProtocolError, IndexError):
        pass  # a malformed code is kept in its generic form rather than failing the response
    return Code(name, rest.decode("utf-8", "replace").strip())
