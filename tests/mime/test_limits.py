"""Pathological messages cost bounded time and memory, and the limits are reported."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from inboxsync.mime import extract_part, parse
from inboxsync.mime.body import MAX_BODY, MAX_TEXT
from inboxsync.mime.headers import MAX_HEADER_VALUE, MAX_HEADERS
from inboxsync.mime.structure import MAX_DEPTH, MAX_PARTS
from tests.mime.work import CallCounter

HEAD = b"From: a@example.com\r\nSubject: big\r\nDate: Thu, 22 Aug 2002 12:36:23 +0100\r\n"


@contextmanager
def bounded(calls: int, extra_mib: float, size: int) -> Iterator[None]:
    """The block makes at most ``calls`` function calls and allocates at most ``size`` +
    ``extra_mib`` MiB at peak. Work is counted in calls, not seconds: a count is the same on a
    loaded machine, and a quadratic path overshoots a linear budget by orders of magnitude."""
    counter = CallCounter()
    tracemalloc.start()
    try:
        with counter:
            yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counter.calls < calls, f"{counter.calls} calls"
    assert peak < size + extra_mib * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_deep_nesting() -> None:
    depth = 500
    raw = bytearray(HEAD)
    for level in range(depth):
        raw += f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
    raw += b"Content-Type: text/plain\r\n\r\ndeep text\r\n"
    for level in reversed(range(depth)):
        raw += f"--b{level}--\r\n".encode()
    with bounded(100_000, 16, 0):
        message = parse(bytes(raw))
    assert any(f"deeper than {MAX_DEPTH}" in error for error in message.parse_errors)
    assert message.subject == "big"


def test_ten_thousand_parts() -> None:
    raw = bytearray(HEAD + b'Content-Type: multipart/mixed; boundary="p"\r\n\r\n')
    for number in range(10_000):
        raw += f"--p\r\nContent-Type: image/gif; name=f{number}.gif\r\n\r\nGIF89a\r\n".encode()
    raw += b"--p--\r\n"
    with bounded(1_000_000, 32, len(raw)):
        message = parse(bytes(raw))
    assert len(message.attachments) == MAX_PARTS
    assert any(f"more than {MAX_PARTS} parts" in error for error in message.parse_errors)


def test_fifty_megabyte_base64_attachment_not_decoded() -> None:
    line = b"QUJD" * 19 + b"\r\n"  # 76 characters, 57 bytes decoded
    payload = line * (50 * 2**20 // len(line))
    raw = (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        + b"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + payload
        + b"\r\n--x--\r\n"
    )
    with bounded(10_000, 8, 0):
        message = parse(raw)
    (attachment,) = message.attachments
    assert attachment.size == len(payload) // 78 * 57
    assert message.snippet == "hi"


def test_fifty_megabyte_body_is_cut() -> None:
    raw = (
        HEAD + b"Content-Type: text/plain\r\n\r\n" + (b"word " * 15 + b"\r\n") * (50 * 2**20 // 77)
    )
    with bounded(10_000, 64, 0):
        message = parse(raw)
    assert len(message.body) <= MAX_BODY
    assert len(message.text) <= MAX_TEXT
    assert any("cut" in error for error in message.parse_errors)


def test_one_megabyte_headers() -> None:
    references = b"References:" + b"".join(b" <id%d@example.com>\r\n" % i for i in range(40_000))
    subject = b"Subject: " + b"=?utf-8?q?abc?= " * 70_000 + b"\r\n"
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 500))
    raw = HEAD.replace(b"Subject: big\r\n", b"") + references + subject + many + b"\r\nbody\r\n"
    assert len(raw) > 1.5 * 2**20
    with bounded(2_000_000, 64, len(raw)):
        message = parse(raw)
    assert len(message.headers) == MAX_HEADERS
    assert all(len(header.value) <= MAX_HEADER_VALUE for header in message.headers)
    assert 0 < len(message.references) <= 500
    assert message.subject.startswith("abcabc")
    assert any("longer than" in error for error in message.parse_errors)


def test_pathological_html_is_linear() -> None:
    html = b"a<b" * 200_000 + b"<!--x" * 100_000 + b"<style" * 50_000 + b"<script" * 100_000
    raw = HEAD + b"Content-Type: text/html\r\n\r\n" + html
    with bounded(10_000, 64, 0):
        parse(raw)


def test_extract_part_of_large_message() -> None:
    raw = (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n\r\nA\r\n--x\r\n\r\nB\r\n--x--'
    )
    assert extract_part(raw, "2") == (b"B", "text/plain")


def test_pathological_address_headers_are_linear() -> None:
    value = b'"' * 60_000 + b"(" * 3_000 + b"<" * 3_000 + b"a@b, " * 5_000
    raw = HEAD + b"To: " + value + b"\r\nCc: " + b"=?" * 30_000 + b"\r\n\r\nbody"
    with bounded(4_000_000, 64, 0):
        message = parse(raw)
    assert len(message.to) <= 1000
