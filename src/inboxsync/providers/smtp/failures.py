"""aiosmtplib's exceptions -> the inboxsync tree (``errors.py``).

=====================================  ============================================================
SMTP                                    inboxsync
=====================================  ============================================================
535/534/530, AUTH refused or missing    :class:`AuthError` (permanent: the credentials are wrong)
4xx reply (greylisting, quota, busy)    :class:`RateLimited` (transient: retried with backoff)
5xx reply for the message or a rcpt     :class:`ObjectError` (permanent for this message)
refused connection, timeout, drop       :class:`ConnectionLost` (transient)
drop after the DATA payload was sent    :class:`DataInterrupted` (the server may have queued it)
=====================================  ============================================================

``provider_error`` carries ``{"code", "message", "stage"}`` so that the API shows the server's words.
"""

from __future__ import annotations

import aiosmtplib

from inboxsync.errors import (
    AuthError,
    ConnectionLost,
    ObjectError,
    ProtocolError,
    ProviderError,
    RateLimited,
)

AUTH_CODES = frozenset({530, 534, 535, 538})


class DataInterrupted(ConnectionLost):
    """The connection failed after the message data went out and before the server's verdict.

    The server may have accepted the message: resending could deliver it twice."""

    transient = False


def _detail(code: int | None, message: str, stage: str) -> dict[str, object]:
    return {"code": code, "message": message, "stage": stage}


def from_reply(code: int, message: str, stage: str) -> ProviderError:
    """The error for one negative SMTP reply at ``stage`` (MAIL, RCPT, DATA, AUTH...)."""
    text = f"SMTP {stage} refused: {code} {message}".strip()
    detail = _detail(code, message, stage)
    if code in AUTH_CODES or stage == "AUTH":
        err: ProviderError = AuthError(text, provider_error=detail)
    elif 400 <= code < 500:
        err = RateLimited(text)
        err.provider_error = detail
    elif 500 <= code < 600:
        err = ObjectError(text, provider_error=detail)
    else:
        err = ProtocolError(text, provider_error=detail)
    return err


def map_error(exc: BaseException, stage: str) -> ProviderError:
    """Wrap an aiosmtplib (or socket) error raised during ``stage``; the caller raises it ``from``."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = [(r.code, r.message) for r in exc.recipients]
        transient = any(400 <= code < 500 for code, _ in replies)
        code, message = next(
            ((c, m) for c, m in replies if (400 <= c < 500) == transient), (550, "refused")
        )
        return from_reply(code, f"{message} (all recipients refused)", "RCPT")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return AuthError(
            f"SMTP login refused: {exc.code} {exc.message}",
            provider_error=_detail(exc.code, exc.message, "AUTH"),
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError):
        if stage == "DATA":
            return DataInterrupted(
                f"SMTP connection lost after the message data was sent: {exc}; "
                "the server may have accepted it, so it is not sent again",
                provider_error=_detail(None, str(exc), stage),
            )
        return ConnectionLost(f"SMTP {stage}: {exc}", provider_error=_detail(None, str(exc), stage))
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return ConnectionLost(f"SMTP connect: {exc}", provider_error=_detail(None, str(exc), stage))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return from_reply(exc.code, exc.message, stage)
    if isinstance(exc, aiosmtplib.SMTPException):
        message = str(exc)
        if "AUTH" in message:
            return AuthError(f"SMTP: {message}", provider_error=_detail(None, message, "AUTH"))
        return ProtocolError(
            f"SMTP {stage}: {message}", provider_error=_detail(None, message, stage)
        )
    if isinstance(exc, OSError | TimeoutError):
        if stage == "DATA":
            return DataInterrupted(
                f"SMTP connection lost during DATA: {exc}",
                provider_error=_detail(None, str(exc), stage),
            )
        return ConnectionLost(f"SMTP {stage}: {exc}", provider_error=_detail(None, str(exc), stage))
    return ProtocolError(f"SMTP {stage}: {exc!r}")
