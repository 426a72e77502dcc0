"""Modified UTF-7, the encoding of IMAP mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII (0x20–0x7E) stands for itself, except ``&`` which is written ``&-``. Any other run of
characters is written ``&`` + base64 of its UTF-16BE form (``,`` instead of ``/``, no padding) + ``-``.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["decode", "decode_lenient", "encode"]

_NON_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")


def _encode_run(match: re.Match[str]) -> str:
    data = match.group(0).encode("utf-16-be", "surrogatepass")
    return "&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-"


def encode(name: str) -> str:
    """Encode a mailbox name in modified UTF-7."""
    out = []
    for piece in name.split("&"):
        out.append(_NON_PRINTABLE.sub(_encode_run, piece))
    return "&-".join(out)


def _decode_run(match: re.Match[str]) -> str:
    payload = match.group(1)
    if not payload:
        return "&"
    b64 = payload.replace(",", "/")
    b64 += "=" * (-len(b64) % 4)
    try:
        raw = base64.b64decode(b64, validate=True)
        text = raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid modified UTF-7 run {match.group(0)!r}") from exc
    if _NON_PRINTABLE.fullmatch(text) is None:
        # RFC 3501: printable ASCII must not be base64-encoded; a strict decoder refuses it.
        raise ValueError(f"modified UTF-7 run encodes printable ASCII: {match.group(0)!r}")
    return text


def decode(name: str) -> str:
    """Decode a modified UTF-7 mailbox name; :class:`ValueError` if it is not valid mUTF-7."""
    if "&" not in name:
        return name
    rest = _SHIFTED.sub("", name)
    if "&" in rest:
        raise ValueError(f"unterminated modified UTF-7 run in {name!r}")
    return _SHIFTED.sub(_decode_run, name)


def decode_lenient(name: str) -> str:
    """Decode ``name``, or return it unchanged when it is not valid modified UTF-7 (some servers send UTF-8)."""
    try:
        return decode(name)
    except ValueError:
        return name
