"""Header blocks: splitting and unfolding, RFC 2047 encoded words, RFC 2231 parameters.

Hand-rolled rather than ``email``'s header machinery: the stdlib's ``policy.default`` costs ~2 ms per
message, and compat32 leaves RFC 2047 and 8-bit bytes to the caller anyway. Everything here is linear in
the input and bounded by the limits below.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from inboxsync.mime.charsets import codec_for, decode_bytes, detect

MAX_HEADERS = 1000
"""Header fields kept per header block; the rest are dropped (and reported)."""
MAX_HEADER_VALUE = 64 * 1024
"""Characters kept of one header value; longer values are cut (and reported)."""
MAX_PARAMS = 64
"""Parameters read from one Content-Type / Content-Disposition."""


@dataclass(slots=True)
class HeaderBlock:
    """The header fields of a message or part: names as written, values unfolded, in order."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    body_start: int = 0
    _index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for key, value in self.fields:
                index.setdefault(key.lower(), []).append(value)
            self._index = index
        return self._index

    def get(self, name: str) -> str | None:
        values = self._lookup().get(name.lower())
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        return list(self._lookup().get(name.lower(), ()))

    def add(self, name: str, value: str) -> None:
        self.fields.append((name, value))
        self._index = None


def split_headers(
    raw: bytes,
    start: int,
    end: int,
    errors: list[str],
    hint: Callable[[], str | None] | None = None,
) -> HeaderBlock:
    """Read the header block of ``raw[start:end]``; ``body_start`` is where the body begins.

    Raw 8-bit values that are not UTF-8 are decoded with this block's Content-Type charset, else the
    charset ``hint()`` returns (the message's first declared charset), else detection, else cp1252.
    """
    block = HeaderBlock(body_start=end)
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, end)
    cut = min(i for i in (crlf, lf, end) if i >= 0)
    if raw.startswith((b"\r\n", b"\n"), start):  # no headers at all
        block.body_start = start + (2 if raw.startswith(b"\r\n", start) else 1)
        return block
    if cut < end:
        block.body_start = cut + (3 if cut == crlf else 2)
    pending: list[tuple[str, bytearray]] = []
    offset = start
    for line in raw[start:cut].split(b"\n"):
        line_start = offset
        offset += len(line) + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if line[:1] in (b" ", b"\t"):
            if pending:
                if len(pending[-1][1]) < MAX_HEADER_VALUE:
                    pending[-1][1].extend(line)
            elif line.strip():
                errors.append("header: continuation line before any field")
            continue
        colon = line.find(b":")
        name = line[:colon].strip() if colon > 0 else b""
        if not name or b" " in name or b"\t" in name:
            if line_start == start and line.startswith(b"From "):
                continue  # an mbox separator
            if not line.strip():
                continue
            errors.append("header: text without a field name; taken as the start of the body")
            block.body_start = line_start
            break
        if len(pending) >= MAX_HEADERS:
            errors.append(f"header: more than {MAX_HEADERS} fields; the rest ignored")
            break
        pending.append((name.decode("latin-1"), bytearray(line[colon + 1 :])))
    block.fields = _decode_values(pending, errors, hint)
    return block


def _decode_values(
    pending: list[tuple[str, bytearray]],
    errors: list[str],
    hint: Callable[[], str | None] | None,
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    eight_bit: list[int] = []
    for index, (name, value) in enumerate(pending):
        if len(value) > MAX_HEADER_VALUE:
            errors.append(f"header: {name[:40]} longer than {MAX_HEADER_VALUE} bytes; cut")
            del value[MAX_HEADER_VALUE:]
        data = bytes(value)
        if data.isascii():
            out.append((name, data.decode("ascii").strip()))
            continue
        try:
            out.append((name, data.decode("utf-8").strip()))
        except UnicodeDecodeError:
            out.append((name, ""))
            eight_bit.append(index)
    if eight_bit:
        codec = _header_codec([bytes(pending[i][1]) for i in eight_bit], out, hint)
        errors.append(f"header: 8-bit bytes that are not UTF-8; decoded as {codec}")
        for i in eight_bit:
            out[i] = (out[i][0], bytes(pending[i][1]).decode(codec, errors="replace").strip())
    return out


def _header_codec(
    values: list[bytes], fields: list[tuple[str, str]], hint: Callable[[], str | None] | None
) -> str:
    label: str | None = None
    for name, value in fields:
        if name.lower() == "content-type":
            label = parse_params(value)[1].get("charset")
    if not label and hint is not None:
        label = hint()
    codec = codec_for(label) if label else None
    if codec is not None and codec != "utf-8":
        return codec
    sample = b" ".join(values)
    guessed = detect(sample) if len(sample) >= 48 else None
    return guessed or "cp1252"


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")


def decode_words(text: str, errors: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words; whitespace between adjacent words goes, split characters join."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pos = 0
    run = bytearray()
    run_charset = ""
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        charset, kind, payload = match.groups()
        if pos and not gap.strip() and text[pos - 2 : pos] == "?=":
            gap = ""  # whitespace between two encoded words is not displayed
        if run and (gap or charset.lower() != run_charset):
            out.append(decode_bytes(bytes(run), run_charset, errors))
            run = bytearray()
        out.append(gap)
        run_charset = charset.lower()
        run.extend(_word_bytes(kind, payload))
        pos = match.end()
    if run:
        out.append(decode_bytes(bytes(run), run_charset, errors))
    out.append(text[pos:])
    return "".join(out)


def _word_bytes(kind: str, payload: str) -> bytes:
    data = payload.encode("ascii", errors="replace")
    if kind in "qQ":
        return binascii.a2b_qp(data, header=True)
    return base64_lenient(data)


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def base64_lenient(data: bytes) -> bytes:
    """Base64 with wrong or missing padding and stray characters; never raises."""
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    cleaned = _NOT_BASE64.sub(b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]  # a lone trailing character carries no whole byte
    try:
        return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - cleaned input is valid base64
        return b""


def unquote(value: str) -> str:
    """Strip one level of double quotes and backslash escapes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]
        if "\\" in value:
            value = re.sub(r"\\(.)", r"\1", value)
    return value


def _split_semicolons(value: str) -> list[str]:
    if '"' not in value:
        return value.split(";")
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/sub; a=b; c*=utf-8''x`` into a lowercased main value and decoded parameters."""
    segments = _split_semicolons(value)
    main = segments[0].strip()
    if "=" in main and (" " in main or "\t" in main):  # "text/plain charset=utf-8"
        main, _, rest = main.replace("\t", " ").partition(" ")
        segments.insert(1, rest)
    if "(" in main:
        main = re.sub(r"\([^)]*\)", "", main).strip()
    pieces: dict[str, dict[int, tuple[str, bool]]] = {}
    plain: dict[str, str] = {}
    for segment in segments[1 : MAX_PARAMS + 1]:
        key, eq, raw_value = segment.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            continue
        raw_value = raw_value.strip()
        if "*" not in key:
            plain.setdefault(key, decode_words(unquote(raw_value)))
            continue
        base, _, rest = key.partition("*")
        encoded = rest.endswith("*") or rest == ""
        number = rest.rstrip("*")
        index = int(number) if number.isdigit() else 0
        pieces.setdefault(base, {})[index] = (unquote(raw_value), encoded)
    for base, parts in pieces.items():
        plain[base] = _join_2231(parts)
    return main.lower(), plain


def _join_2231(parts: dict[int, tuple[str, bool]]) -> str:
    charset = ""
    data = bytearray()
    order = sorted(parts)
    for index in order:
        text, encoded = parts[index]
        if encoded:
            if index == order[0] and text.count("'") >= 2:
                charset, _lang, text = text.split("'", 2)
            data.extend(unquote_to_bytes(text))
        else:
            data.extend(text.encode("utf-8", errors="replace"))
    return decode_bytes(bytes(data), charset or "utf-8")


def parse_content_type(value: str | None) -> tuple[str, dict[str, str], bool]:
    """(type/subtype, params, valid): a missing or malformed type is text/plain, as RFC 2045 says."""
    if not value:
        return "text/plain", {}, True
    main, params = parse_params(value)
    kind, slash, sub = main.partition("/")
    if not slash or not kind.strip() or not sub.strip() or " " in main:
        return "text/plain", params, False
    return f"{kind.strip()}/{sub.strip()}", params, True
