"""Policy decisions of the client: which completion becomes which error; what counts as loopback."""

from __future__ import annotations

import ipaddress

from inboxsync.errors import (
    AuthError,
    ConnectionLost,
    ObjectError,
    ProtocolError,
    ProviderError,
    RateLimited,
)
from inboxsync.providers.imap.responses import Tagged

__all__ = ["error_for", "is_loopback"]

_AUTH_CODES = frozenset(
    {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED"}
)
_OBJECT_CODES = frozenset(
    {"NONEXISTENT", "TRYCREATE", "ALREADYEXISTS", "CANNOT", "NOPERM", "EXPUNGEISSUED", "OVERQUOTA"}
)
_OBJECT_COMMANDS = frozenset(
    {"FETCH", "STORE", "COPY", "MOVE", "SELECT", "EXAMINE", "STATUS", "CREATE", "DELETE", "RENAME"}
    | {"APPEND", "SUBSCRIBE", "EXPUNGE", "SEARCH"}
)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def error_for(command: str, tagged: Tagged) -> ProviderError:
    """Map a NO/BAD completion to the exception tree."""
    code = tagged.code.name if tagged.code is not None else None
    detail: dict[str, object] = {
        "command": command,
        "status": tagged.status,
        "code": code,
        "text": tagged.text,
    }
    message = f"{command} failed: {tagged.status}{f' [{code}]' if code else ''} {tagged.text}"
    if tagged.status == "BAD":
        return ProtocolError(message, provider_error=detail)
    if code in _AUTH_CODES or command in ("LOGIN", "AUTHENTICATE"):
        return AuthError(message, provider_error=detail)
    if code in ("THROTTLED", "LIMIT"):
        return RateLimited(message)
    if code in ("UNAVAILABLE", "INUSE", "SERVERBUG"):
        return ConnectionLost(message, provider_error=detail)
    if code in _OBJECT_CODES or command in _OBJECT_COMMANDS:
        return ObjectError(message, provider_error=detail)
    return ProviderError(message, provider_error=detail)
