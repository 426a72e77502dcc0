"""Address lists."""

from __future__ import annotations

from inboxsync.mime.addresses import parse_addresses
from inboxsync.mime.types import Address


def test_forms() -> None:
    assert parse_addresses('"Doe, John" <j@x.org>, k@y.org (Kay)') == (
        Address("Doe, John", "j@x.org"),
        Address("Kay", "k@y.org"),
    )
    assert parse_addresses("undisclosed-recipients:;") == ()
    assert parse_addresses("G: a@b.c, d@e.f;") == (Address("", "a@b.c"), Address("", "d@e.f"))
    assert parse_addresses("<@r.example:u@h.example>") == (Address("", "u@h.example"),)
    assert parse_addresses('"a b"@x.org') == (Address("", '"a b"@x.org'),)
    assert parse_addresses('"a"@x.org') == (Address("", "a@x.org"),)
    assert parse_addresses("u@XN--BCHER-KVA.example") == (Address("", "u@bücher.example"),)


def test_garbage_is_kept() -> None:
    errors: list[str] = []
    assert parse_addresses("John Smith", errors) == (Address("John Smith", ""),)
    assert parse_addresses('"unterminated <x@y.z>') == (Address("unterminated", "x@y.z"),)
    assert parse_addresses("<a@b.c") == (Address("", "a@b.c"),)
    assert parse_addresses(" , ;") == ()
    assert errors


def test_encoded_word_with_comma_does_not_split() -> None:
    assert parse_addresses("=?utf-8?q?Doe=2C_J?= <j@x.org>") == (Address("Doe, J", "j@x.org"),)
