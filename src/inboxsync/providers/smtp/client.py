"""One SMTP transaction over aiosmtplib: connect (implicit TLS, STARTTLS or plain), log in
(PLAIN/LOGIN/CRAM-MD5 as offered, or XOAUTH2 with a token), MAIL, RCPT each, DATA, QUIT.

``before_data`` is awaited after every RCPT was answered and before the DATA command: the caller
records there that the message may now reach the server, so that a crash from then on is known
to be ambiguous (see :mod:`inboxsync.actions.send`).
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aiosmtplib

from inboxsync.core import netguard
from inboxsync.core.accounts import Endpoint
from inboxsync.errors import ObjectError
from inboxsync.providers.smtp.failures import from_reply, map_error

log = logging.getLogger(__name__)

BeforeData = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """The server's verdict: its final reply and the recipients it refused (others got it)."""

    code: int
    message: str
    refused: dict[str, str] = field(default_factory=dict)


def _xoauth2(username: str, token: str) -> str:
    raw = f"user={username}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")


@dataclass
class SmtpSender:
    """How to reach a grant's SMTP server; ``timeout`` bounds each command (seconds)."""

    endpoint: Endpoint
    timeout: float = 60.0
    tls_context: ssl.SSLContext | None = None
    local_hostname: str | None = None

    async def _client(self) -> aiosmtplib.SMTP:
        security = self.endpoint.security
        if self.endpoint.public_only:
            # Connected here, to a checked address; aiosmtplib does TLS against the host name.
            sock = await netguard.connect_public(
                self.endpoint.host, self.endpoint.port, self.timeout
            )
            return aiosmtplib.SMTP(
                hostname=self.endpoint.host,
                sock=sock,
                timeout=self.timeout,
                use_tls=security == "ssl",
                start_tls=security == "starttls",
                tls_context=self.tls_context,
                local_hostname=self.local_hostname,
            )
        return aiosmtplib.SMTP(
            hostname=self.endpoint.host,
            port=self.endpoint.port,
            timeout=self.timeout,
            use_tls=security == "ssl",
            start_tls=security == "starttls",
            tls_context=self.tls_context,
            local_hostname=self.local_hostname,
        )

    async def _login(self, smtp: aiosmtplib.SMTP) -> None:
        endpoint = self.endpoint
        if smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()
        if endpoint.oauth_token:
            reply = await smtp.execute_command(
                b"AUTH", b"XOAUTH2", _xoauth2(endpoint.username, endpoint.oauth_token).encode()
            )
            if reply.code == 334:  # the server's error challenge: answer empty to get the verdict
                reply = await smtp.execute_command(b"")
            if reply.code != 235:
                raise from_reply(reply.code, reply.message, "AUTH")
            return
        if not endpoint.password:
            return
        if not smtp.supports_extension("auth"):
            # Nothing to log in to (a relay on loopback); MAIL FROM tells if it was needed (530).
            log.debug("SMTP server %s offers no AUTH; sending without", endpoint.host)
            return
        await smtp.login(endpoint.username, endpoint.password)

    async def send(
        self,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        *,
        before_data: BeforeData | None = None,
    ) -> Delivery:
        """Deliver ``data``; raises a mapped :class:`ProviderError` (see ``failures``)."""
        if not recipients:
            raise ObjectError("a message needs at least one recipient")
        smtp = await self._client()
        stage = "CONNECT"
        try:
            await smtp.connect()
            stage = "AUTH"
            await self._login(smtp)
            stage = "MAIL"
            options = ["SMTPUTF8"] if not _ascii(mail_from, recipients) else []
            if smtp.supports_extension("size"):
                options.append(f"SIZE={len(data)}")
            await smtp.mail(mail_from, options=options, encoding="utf-8" if options else "ascii")
            stage = "RCPT"
            refused: dict[str, str] = {}
            for rcpt in recipients:
                try:
                    await smtp.rcpt(rcpt, encoding="utf-8" if not rcpt.isascii() else "ascii")
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[rcpt] = f"{exc.code} {exc.message}"
                    if 400 <= exc.code < 500 or len(refused) == len(recipients):
                        raise map_error(aiosmtplib.SMTPRecipientsRefused([exc]), "RCPT") from exc
            if before_data is not None:
                await before_data()
            stage = "DATA"
            reply = await smtp.data(data)
            stage = "QUIT"
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError) as exc:  # the message is in: never mind
                log.debug("SMTP QUIT: %s", exc)
            return Delivery(reply.code, reply.message, refused)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise map_error(exc, stage) from exc
        finally:
            smtp.close()


def _ascii(mail_from: str, recipients: Sequence[str]) -> bool:
    return mail_from.isascii() and all(r.isascii() for r in recipients)


async def deliver(
    endpoint: Endpoint,
    mail_from: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    before_data: BeforeData | None = None,
    command_timeout: float = 60.0,
) -> Delivery:
    """One-shot :meth:`SmtpSender.send`."""
    sender = SmtpSender(endpoint, timeout=command_timeout)
    return await sender.send(mail_from, recipients, data, before_data=before_data)
