"""The MIME tree: IMAP part numbers, boundaries, extract_part."""

from __future__ import annotations

import pytest

from inboxsync.errors import NotFound
from inboxsync.mime.structure import extract_part, parse_tree

NESTED = (
    b'Content-Type: multipart/mixed; boundary="a"\r\n\r\npreamble\r\n'
    b'--a\r\nContent-Type: multipart/alternative; boundary="a-1"\r\n\r\n'
    b"--a-1\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
    b"--a-1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--a-1--\r\n"
    b"--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"
    b"--a--\r\nepilogue"
)


def test_part_numbers_like_imap() -> None:
    _, root = parse_tree(NESTED, [])
    leaves = [(p.part_id, p.content_type) for p in root.walk() if not p.is_multipart]
    assert leaves == [("1.1", "text/plain"), ("1.2", "text/html"), ("2", "message/rfc822")]
    assert extract_part(NESTED, "1.2") == (b"<p>html</p>", "text/html")
    assert extract_part(NESTED, "2")[0] == b"Subject: inner\r\n\r\ninner body"


def test_single_part_is_part_one() -> None:
    raw = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db"
    assert extract_part(raw, "1") == (b"a=b", "text/plain")
    with pytest.raises(NotFound):
        extract_part(raw, "2")


def test_uuencode() -> None:
    raw = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n"
    assert extract_part(raw, "1")[0] == b"abc"
