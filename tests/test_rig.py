"""The real-server test rig itself: Dovecot, the outside IMAP client and the SMTP sink."""

from __future__ import annotations

import imaplib

import pytest

from tests.support.dovecot import Dovecot


@pytest.mark.dovecot
def test_dovecot_starts_and_logs_in(dovecot: Dovecot) -> None:
    print(f"dovecot start: {dovecot.start_seconds:.3f}s")
    with dovecot.admin() as admin:
        assert "INBOX" in admin.list_folders()


@pytest.mark.dovecot
def test_wrong_password_fails(dovecot: Dovecot) -> None:
    with pytest.raises(imaplib.IMAP4.error):
        dovecot.admin(dovecot.user, "wrong")
