"""Which Google answer becomes which error of :mod:`inboxsync.errors`.

Google's error body is ``{"error": {"code", "message", "errors": [{"reason", ...}], "status"}}``
(https://developers.google.com/gmail/api/guides/handle-errors). The OAuth token endpoint answers
``{"error": "invalid_grant", "error_description": ...}`` (RFC 6749 §5.2).
"""

from __future__ import annotations

import json
from typing import Any

from inboxsync.errors import (
    AuthError,
    ConnectionLost,
    ObjectError,
    ProtocolError,
    ProviderError,
    RateLimited,
)

RATE_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"})


class HistoryExpired(ObjectError):
    """``history.list`` answered 404: the start history id is too old; a full resync is due."""


class MessageGone(ObjectError):
    """The message (or label, or draft) does not exist (404)."""


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def reasons_of(body: dict[str, Any]) -> list[str]:
    error = body.get("error")
    if not isinstance(error, dict):
        return []
    return [str(e.get("reason", "")) for e in error.get("errors", []) if isinstance(e, dict)]


def is_rate_limited(status: int, body: dict[str, Any]) -> bool:
    return status == 429 or (status == 403 and bool(RATE_REASONS & set(reasons_of(body))))


def error_for(
    status: int, body: bytes, what: str, *, retry_after: float | None = None
) -> ProviderError:
    """The exception for a final (not retried) error answer of the Gmail API."""
    parsed = parse_body(body)
    error = parsed.get("error")
    text = str(error.get("message", "")) if isinstance(error, dict) else str(error or "")
    message = f"{what}: HTTP {status} {text}".strip()
    detail: dict[str, object] = {"status": status, "reasons": reasons_of(parsed)}
    if is_rate_limited(status, parsed):
        return RateLimited(message, retry_after=retry_after)
    if status == 401:
        return AuthError(message, provider_error=detail)
    if status == 404:
        return MessageGone(message, provider_error=detail)
    if status >= 500:
        return ConnectionLost(message, provider_error=detail)
    if status in (400, 403, 409, 413):
        return ObjectError(message, provider_error=detail)
    return ProtocolError(message, provider_error=detail)
