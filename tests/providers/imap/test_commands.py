from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from inboxsync.providers.imap.commands import (
    Arg,
    Literal,
    encode_command,
    flag_list,
    imap_date,
    mailbox,
    quote,
    uid_set,
)
from inboxsync.providers.imap.uidset import UidSet


def test_quote() -> None:
    assert quote("alice") == "alice"
    assert quote("a b") == '"a b"'
    assert quote('say "hi" \\') == '"say \\"hi\\" \\\\"'
    assert quote("") == '""'
    assert quote("NIL") == '"NIL"'
    assert quote("pässword") == Literal("pässword".encode())
    assert quote("two\r\nlines") == Literal(b"two\r\nlines")
    assert "secret" not in repr(Literal(b"secret"))


def test_mailbox_names() -> None:
    assert mailbox("inbox") == "INBOX"
    assert mailbox("Entwürfe") == "Entw&APw-rfe"
    assert mailbox("[Gmail]/Sent Mail") == '"[Gmail]/Sent Mail"'
    assert mailbox("Entwürfe", utf8=True) == Literal("Entwürfe".encode())


def test_literal_modes() -> None:
    words: list[Arg] = ["APPEND", "INBOX", Literal(b"hello")]
    assert encode_command("A1", words, "sync") == [b"A1 APPEND INBOX {5}\r\n", b"hello\r\n"]
    assert encode_command("A1", words, "plus") == [b"A1 APPEND INBOX {5+}\r\nhello\r\n"]
    assert encode_command("A1", words, "minus") == [b"A1 APPEND INBOX {5+}\r\nhello\r\n"]
    big = Literal(b"x" * 5000)
    assert len(encode_command("A1", ["APPEND", "INBOX", big], "minus")) == 2


def test_dates_flags_sets() -> None:
    when = datetime(1996, 7, 7, 2, 44, 25, tzinfo=timezone(-timedelta(hours=7)))
    assert imap_date(when) == '"07-Jul-1996 02:44:25 -0700"'
    assert imap_date(datetime(2024, 1, 2, tzinfo=UTC)) == '"02-Jan-2024 00:00:00 +0000"'
    assert flag_list(["\\Seen", "$Label"]) == "(\\Seen $Label)"
    assert uid_set([5, 1, 2, 3]) == "1:3,5"
    assert uid_set(UidSet.parse("7")) == "7"
    assert uid_set("1:*") == "1:*"
    with pytest.raises(ValueError):
        uid_set("1 OR 2")
    with pytest.raises(ValueError):
        uid_set([])
