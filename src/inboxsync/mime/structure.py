"""The MIME tree of a message as offsets into its raw bytes, and content-transfer decoding.

Multipart bodies are split with ``bytes.find`` on the boundary, never copied: a part is a header block
plus a ``(body_start, body_end)`` range. Parts are numbered like IMAP (``1``, ``2.1``); a message that is
not multipart has one part, ``1``. ``message/rfc822`` parts are leaves (served as attachments).
Nesting deeper than ``MAX_DEPTH`` or more than ``MAX_PARTS`` parts stops the walk (reported).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from inboxsync.errors import NotFound
from inboxsync.mime.headers import (
    HeaderBlock,
    base64_lenient,
    parse_content_type,
    parse_params,
    split_headers,
)

MAX_DEPTH = 32
MAX_PARTS = 1000


@dataclass(slots=True)
class Part:
    """One node of the tree; ``start``/``end`` bound the encoded body in the raw message."""

    part_id: str
    headers: HeaderBlock
    content_type: str
    params: dict[str, str]
    start: int
    end: int
    children: list[Part] = field(default_factory=list)

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/") and bool(self.children)

    @property
    def encoding(self) -> str:
        value = self.headers.get("content-transfer-encoding")
        return value.strip().strip('"').lower() if value else "7bit"

    def disposition(self) -> tuple[str, dict[str, str]]:
        value = self.headers.get("content-disposition")
        if not value:
            return "", {}
        kind, params = parse_params(value)
        return ("attachment" if kind not in {"inline", "attachment"} else kind), params

    def walk(self) -> Iterator[Part]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True)
class _Budget:
    parts: int = 0
    reported: bool = False


def parse_tree(
    raw: bytes, errors: list[str], hint: Callable[[], str | None] | None = None
) -> tuple[HeaderBlock, Part]:
    """The top header block and the root part (a multipart's root part has id "")."""
    top = split_headers(raw, 0, len(raw), errors, hint)
    budget = _Budget()
    root = _make_part(raw, top, "", 0, len(raw), 0, errors, budget, hint, top_level=True)
    return top, root


def _make_part(
    raw: bytes,
    headers: HeaderBlock,
    part_id: str,
    start: int,
    end: int,
    depth: int,
    errors: list[str],
    budget: _Budget,
    hint: Callable[[], str | None] | None,
    *,
    top_level: bool = False,
) -> Part:
    content_type, params, valid = parse_content_type(headers.get("content-type"))
    if not valid:
        errors.append(f"mime: part {part_id or '1'} has a malformed Content-Type")
    part = Part(part_id, headers, content_type, params, headers.body_start, end)
    if not content_type.startswith("multipart/"):
        if top_level:
            part.part_id = "1"
        return part
    boundary = params.get("boundary", "")
    if not boundary:
        errors.append(f"mime: multipart part {part_id or 'root'} has no boundary; read as text")
        part.content_type = "text/plain"
        part.part_id = part.part_id or "1"
        return part
    if depth >= MAX_DEPTH:
        errors.append(f"mime: nesting deeper than {MAX_DEPTH}; part {part_id} not opened")
        part.content_type = "application/octet-stream"
        return part
    for index, (body_start, body_end) in enumerate(
        _split(raw, boundary.encode("utf-8", "replace"), part.start, end, errors, part_id), 1
    ):
        if budget.parts >= MAX_PARTS:
            if not budget.reported:
                errors.append(f"mime: more than {MAX_PARTS} parts; the rest ignored")
                budget.reported = True
            break
        budget.parts += 1
        child_id = f"{part_id}.{index}" if part_id else str(index)
        child_headers = split_headers(raw, body_start, body_end, errors, hint)
        if content_type == "multipart/digest" and child_headers.get("content-type") is None:
            child_headers.add("Content-Type", "message/rfc822")  # RFC 2046 5.1.5
        child = _make_part(
            raw, child_headers, child_id, body_start, body_end, depth + 1, errors, budget, hint
        )
        part.children.append(child)
    if not part.children:
        errors.append(f"mime: multipart part {part_id or 'root'} has no parts; read as text")
        part.content_type = "text/plain"
        part.part_id = part.part_id or "1"
    return part


def _split(
    raw: bytes, boundary: bytes, start: int, end: int, errors: list[str], part_id: str
) -> Iterator[tuple[int, int]]:
    """Body ranges between ``--boundary`` lines in ``raw[start:end]`` (preamble and epilogue skipped)."""
    marker = b"--" + boundary
    pos = start
    opened = -1
    while True:
        found = raw.find(marker, pos, end)
        if found < 0:
            break
        after = found + len(marker)
        at_line_start = found == start or raw[found - 1] == 0x0A
        closing = raw.startswith(b"--", after)
        line_end = raw.find(b"\n", after, end)
        line_end = end if line_end < 0 else line_end + 1
        rest = raw[after + (2 if closing else 0) : line_end]
        # "--b" must start a line; an opening one must end it ("--b-2" is another boundary).
        if not at_line_start or (rest.strip(b" \t\r\n") and not closing):
            pos = after
            continue
        if opened >= 0:
            stop = found - 1 if found > start and raw[found - 1] == 0x0A else found
            if stop > opened and raw[stop - 1] == 0x0D:
                stop -= 1
            yield opened, max(opened, stop)
        if closing:
            return
        opened = line_end
        pos = line_end
    if opened >= 0:
        errors.append(f"mime: multipart {part_id or 'root'} has no closing boundary")
        yield opened, end


def find_part(root: Part, part_id: str) -> Part | None:
    for part in root.walk():
        if part.part_id == part_id and not part.is_multipart:
            return part
    return None


_B64_NOISE = (b"\r", b"\n", b" ", b"\t", b"=")


def decoded_size(raw: bytes, part: Part) -> int:
    """Size of the decoded body; base64 is counted without decoding."""
    encoding = part.encoding
    length = part.end - part.start
    if encoding == "base64":
        noise = sum(raw.count(char, part.start, part.end) for char in _B64_NOISE)
        return max(0, (length - noise) * 3 // 4)
    if encoding in {"quoted-printable", "x-uuencode", "uuencode", "x-uue"}:
        return len(decode_body(raw, part))
    return length


def decode_body(raw: bytes, part: Part, limit: int | None = None) -> bytes:
    """The decoded body of ``part``; with ``limit``, only about that many decoded bytes are produced."""
    encoding = part.encoding
    end = part.end
    if limit is not None:
        end = min(end, part.start + limit * 4 // 3 + 4096)
    data = raw[part.start : end]
    if encoding == "base64":
        return base64_lenient(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in {"x-uuencode", "uuencode", "x-uue"}:
        return _uudecode(data)
    return data


def _uudecode(data: bytes) -> bytes:
    out = bytearray()
    for line in data.splitlines():
        if line.startswith(b"begin ") or line.strip() in {b"end", b"`", b""}:
            continue
        try:
            out.extend(binascii.a2b_uu(line))
        except binascii.Error:
            continue
    return bytes(out)


def extract_part(raw: bytes, part_id: str) -> tuple[bytes, str]:
    """The decoded bytes and content type of part ``part_id`` (as in ``AttachmentInfo.part_id``).

    Raises ``NotFound`` when the message has no such leaf part.
    """
    errors: list[str] = []
    _, root = parse_tree(raw, errors)
    part = find_part(root, part_id)
    if part is None:
        raise NotFound(f"no MIME part {part_id!r} in this message")
    return decode_body(raw, part), part.content_type
