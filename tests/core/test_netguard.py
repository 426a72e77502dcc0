"""Public-only connections: every address checked, the socket connected to a checked one."""

from __future__ import annotations

import ipaddress

import pytest

from inboxsync.core import netguard
from inboxsync.core.accounts import ImapAccount
from inboxsync.core.netguard import NotPublic
from inboxsync.providers.smtp.client import SmtpSender
from inboxsync.sync.imap.session import open_client
from tests.support.dovecot import Dovecot


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1", "localhost"])
async def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(NotPublic, match="non-public"):
        await netguard.public_addresses(host, 993)


async def test_a_public_address_passes() -> None:
    assert await netguard.public_addresses("8.8.8.8", 993) == [ipaddress.ip_address("8.8.8.8")]


async def test_one_private_answer_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def answers(host: str, port: int) -> list[netguard.Address]:
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.0.0.1")]

    monkeypatch.setattr(netguard, "resolve", answers)
    with pytest.raises(NotPublic, match=r"10\.0\.0\.1"):
        await netguard.public_addresses("mail.example.com", 993)


def test_public_only_survives_sealing() -> None:
    account = ImapAccount.from_settings(
        {
            "imap_host": "mail.example.com",
            "imap_username": "u@example.com",
            "imap_password": "p",
            "smtp_host": "smtp.example.com",
        }
    )
    assert not account.imap.public_only and "public_only" not in account.secrets()
    restricted = account.public_only()
    stored = ImapAccount.from_stored(
        restricted.email, restricted.public_settings(), restricted.secrets()
    )
    assert stored.imap.public_only
    assert stored.smtp is not None and stored.smtp.public_only
    assert "public_only" not in restricted.public_settings()  # not shown with the settings


@pytest.mark.dovecot
async def test_sync_and_send_refuse_a_host_that_now_resolves_to_this_network(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that passed the connect check and later resolves to loopback (DNS rebinding): the
    IMAP and SMTP connections of a public-only account refuse it; an operator's account connects."""
    settings = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_security": "none",
        "imap_username": dovecot.user,
        "imap_password": dovecot.password,
        "smtp_host": "127.0.0.1",
        "smtp_port": 1,
        "smtp_security": "none",
    }
    account = ImapAccount.from_settings(settings)
    client = await open_client(account)  # the operator's account: loopback is fine
    await client.logout()
    restricted = account.public_only()
    with pytest.raises(NotPublic):
        await open_client(restricted)
    assert restricted.smtp is not None
    with pytest.raises(NotPublic):
        await SmtpSender(restricted.smtp, timeout=5).send("a@example.com", ["b@example.com"], b"x")
