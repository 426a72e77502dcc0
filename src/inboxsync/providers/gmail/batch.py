"""Batch requests (``multipart/mixed``), sans-IO: build the body, split the answer.

https://developers.google.com/gmail/api/guides/batch: up to 100 calls in one HTTP request to
``POST /batch/gmail/v1``; each part is ``Content-Type: application/http`` holding one request line,
headers and an optional body; the answer holds one ``application/http`` part per call, matched by
``Content-ID`` (``<response-` + the request's id + ``>``), possibly in another order. Google advises
batches of 50 or fewer for Gmail ("larger batch sizes are likely to trigger rate limiting").
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

MAX_BATCH = 50


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # with its query string, e.g. /gmail/v1/users/me/messages/ab?format=raw
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def encode(calls: list[Call], boundary: str | None = None) -> tuple[str, bytes]:
    """(Content-Type header, body) of a batch request; part ``i`` has Content-ID ``<item-i>``."""
    boundary = boundary or "batch_" + os.urandom(12).hex()
    out: list[bytes] = []
    for i, call in enumerate(calls):
        head = f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item-{i}>\r\n\r\n"
        inner = f"{call.method} {call.path} HTTP/1.1\r\n"
        if call.body:
            inner += f"Content-Type: {call.content_type}\r\nContent-Length: {len(call.body)}\r\n"
        out.append(head.encode() + inner.encode() + b"\r\n" + call.body + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(out)


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def boundary_of(content_type: str) -> str | None:
    found = _BOUNDARY.search(content_type)
    return found.group(1) if found else None


def split_parts(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/mixed`` body as (headers with lower-case names, content)."""
    boundary = boundary_of(content_type)
    if boundary is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + boundary.encode()
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.removeprefix(b"\n")
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk.removesuffix(b"\n")
        headers, content = _head(chunk)
        parts.append((headers, content))
    return parts


def _head(data: bytes) -> tuple[dict[str, str], bytes]:
    """Split header lines from the content at the first empty line."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = data.find(sep)
        if at >= 0:
            head, content = data[:at], data[at + len(sep) :]
            break
    else:
        head, content = data, b""
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, content


def _index_of(content_id: str) -> int | None:
    found = re.search(r"item-(\d+)", content_id)
    return int(found.group(1)) if found else None


def decode(content_type: str, body: bytes, count: int) -> list[Answer | None]:
    """The answers of a batch, in the order of its calls (None where a part is missing)."""
    answers: list[Answer | None] = [None] * count
    for headers, content in split_parts(content_type, body):
        index = _index_of(headers.get("content-id", ""))
        if index is None or not 0 <= index < count:
            continue
        line, _, rest = content.partition(b"\n")
        fields = line.decode("latin-1").split()
        try:
            status = int(fields[1])
        except (IndexError, ValueError):
            continue
        inner_headers, inner_body = _head(rest)
        answers[index] = Answer(status, inner_headers, inner_body)
    return answers


def parse_call(headers: dict[str, str], content: bytes) -> tuple[Call, str]:
    """One part of a batch request (the fake's side): the call and its Content-ID."""
    line, _, rest = content.partition(b"\n")
    fields = line.decode("latin-1").split()
    inner_headers, inner_body = _head(rest)
    call = Call(
        fields[0],
        fields[1],
        inner_body.rstrip(b"\r\n"),
        inner_headers.get("content-type", "application/json"),
    )
    return call, headers.get("content-id", "")


def encode_answers(answers: list[tuple[str, Answer]], boundary: str) -> bytes:
    """The fake's side: a batch answer, each part named ``<response-...>`` after its request."""
    out: list[bytes] = []
    for content_id, answer in answers:
        cid = content_id.strip("<>")
        head = (
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <response-{cid}>\r\n\r\n"
            f"HTTP/1.1 {answer.status} X\r\n"
        )
        inner = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
        out.append(head.encode() + inner.encode() + b"\r\n" + answer.body + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)
