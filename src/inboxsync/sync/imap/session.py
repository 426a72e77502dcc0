"""Open an authenticated IMAP client for an account, with the extensions sync relies on turned on."""

from __future__ import annotations

import ssl

from inboxsync.core.accounts import ImapAccount
from inboxsync.errors import AuthError, ConfigError, ConnectionLost
from inboxsync.providers.imap.client import ImapClient

DEFAULT_TIMEOUT = 30.0


async def open_client(
    account: ImapAccount,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - configures the client
    ssl_context: ssl.SSLContext | None = None,
    compress: bool = True,
) -> ImapClient:
    """Connect, authenticate (XOAUTH2 with a token, else AUTHENTICATE PLAIN, else LOGIN), ENABLE
    QRESYNC where offered (so expunges arrive as VANISHED with UIDs), and COMPRESS where offered
    (only to hosts that are not loopback: on loopback it costs CPU and saves nothing)."""
    imap = account.imap
    try:
        client = await ImapClient.connect(
            imap.host,
            imap.port,
            imap.security,
            timeout=timeout,
            allow_plaintext_remote=True,  # the account was validated against the operator's setting
            ssl_context=ssl_context,
            public_only=imap.public_only,
        )
    except ConfigError as exc:
        raise ConnectionLost(str(exc)) from exc
    try:
        if imap.oauth_token:
            await client.authenticate_xoauth2(imap.username, imap.oauth_token)
        elif "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities:
            await client.authenticate_plain(imap.username, imap.password)
        else:
            await client.login(imap.username, imap.password)
        if "QRESYNC" in client.capabilities:
            await client.enable("QRESYNC")
        elif "CONDSTORE" in client.capabilities:
            await client.enable("CONDSTORE")
        if compress and "COMPRESS=DEFLATE" in client.capabilities and not _is_loopback(imap.host):
            await client.compress()
    except BaseException:
        client.close()
        raise
    return client


async def check_login(account: ImapAccount, *, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Log in once and out again; AuthError (with the server's words) or ConnectionLost say why not."""
    try:
        client = await open_client(account, timeout=timeout, compress=False)
    except AuthError as exc:
        raise AuthError(f"IMAP login to {account.imap.host} failed: {exc}") from exc
    await client.logout()


def _is_loopback(host: str) -> bool:
    from inboxsync.core.accounts import is_loopback

    return is_loopback(host)
