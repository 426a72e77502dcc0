from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxsync.providers.imap import mutf7

CASES = [
    ("INBOX", "INBOX"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
    ("Été", "&AMk-t&AOk-"),
    ("😀", "&2D3eAA-"),
    ("&", "&-"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "encoded"), CASES)
def test_encode_decode(text: str, encoded: str) -> None:
    assert mutf7.encode(text) == encoded
    assert mutf7.decode(encoded) == text


@pytest.mark.parametrize("bad", ["&AGE-", "&Jjo", "&!!-", "a&b"])
def test_decode_rejects_invalid(bad: str) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(bad)
    assert mutf7.decode_lenient(bad) == bad


@given(st.text())
def test_round_trip(text: str) -> None:
    encoded = mutf7.encode(text)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert mutf7.decode(encoded) == text
