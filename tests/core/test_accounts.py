from __future__ import annotations

import pytest

from inboxsync.core.accounts import ImapAccount, is_loopback
from inboxsync.errors import InvalidRequest

BASE = {"imap_host": "imap.example.com", "imap_username": "me@example.com", "imap_password": "pw"}


def test_defaults_and_smtp_inherits_credentials() -> None:
    account = ImapAccount.from_settings({**BASE, "smtp_host": "smtp.example.com", "smtp_port": 587})
    assert (account.imap.port, account.imap.security) == (993, "ssl")
    assert account.smtp is not None
    assert (account.smtp.port, account.smtp.security, account.smtp.username) == (
        587,
        "starttls",
        "me@example.com",
    )
    assert account.email == "me@example.com"
    assert "pw" not in repr(account) and "pw" not in str(account.public_settings())
    assert account.secrets() == {"imap_password": "pw", "smtp_password": "pw"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"imap_host": ""}, "imap_host is required"),
        ({"imap_port": "abc"}, "imap_port is not a number"),
        ({"imap_port": 70000}, "between 1 and 65535"),
        ({"imap_security": "tls"}, "must be one of"),
        ({"imap_password": ""}, "imap_password is required"),
        ({"imap_security": "none"}, "allowed only to loopback"),
    ],
)
def test_bad_settings(extra: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ImapAccount.from_settings({**BASE, **extra})


def test_plaintext_to_loopback_or_when_allowed() -> None:
    local = ImapAccount.from_settings(
        {**BASE, "imap_host": "127.0.0.1", "imap_security": "none", "imap_port": 1143}
    )
    assert local.imap.port == 1143
    ImapAccount.from_settings({**BASE, "imap_security": "none"}, allow_plaintext_remote=True)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("10.0.0.1") and not is_loopback("example.com")
