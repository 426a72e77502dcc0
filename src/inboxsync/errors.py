"""The one exception tree of inboxsync.

Every error raised by inboxsync code is an :class:`InboxsyncError`. Adapters wrap the errors of the
libraries they use (``raise ProviderError(...) from exc``); only ``api/`` turns these into HTTP statuses.

::

    InboxsyncError
    ├── ConfigError              bad settings or a missing secret key
    ├── InvalidRequest           bad input from a caller (API body, query, CLI argument)
    ├── NotFound                 the object does not exist (or is not visible to the caller)
    ├── Conflict                 the object exists already / a concurrent change won
    ├── StorageError             the database or the blob store failed
    │   └── LeaseLost            this worker no longer owns the grant it is writing for
    └── ProviderError            anything the mail provider did
        ├── AuthError            credentials refused: the grant becomes invalid, no retry
        ├── ConnectionLost       network or server went away: transient, reconnect with backoff
        ├── RateLimited          the provider throttled us: transient, wait ``retry_after``
        ├── ProtocolError        the server said something we cannot understand
        └── ObjectError          permanent for one object (message gone, folder missing): skip it

``ProviderError.transient`` tells the sync loop whether to retry.
"""

from __future__ import annotations


class InboxsyncError(Exception):
    """Base of every inboxsync error."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.__class__.__name__

    def __str__(self) -> str:
        return self.message


class ConfigError(InboxsyncError):
    """Settings are missing or inconsistent."""


class InvalidRequest(InboxsyncError):
    """The caller sent something we cannot accept."""


class NotFound(InboxsyncError):
    """The object does not exist, or is not visible to the caller."""


class Conflict(InboxsyncError):
    """The object exists already, or a concurrent change won."""


class StorageError(InboxsyncError):
    """The database or the blob store failed."""


class LeaseLost(StorageError):
    """This worker no longer holds the lease of the grant it is writing for."""


class ProviderError(InboxsyncError):
    """The mail provider failed; ``transient`` tells whether retrying may help."""

    transient: bool = True

    def __init__(
        self, message: str = "", *, provider_error: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.provider_error = provider_error


class AuthError(ProviderError):
    """Credentials were refused. Not transient: the grant is marked invalid."""

    transient = False


class ConnectionLost(ProviderError):
    """The connection dropped or could not be made. Transient."""


class RateLimited(ProviderError):
    """The provider throttled us. Transient; wait ``retry_after`` seconds if known."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProtocolError(ProviderError):
    """The server answered something we could not understand."""


class ObjectError(ProviderError):
    """A failure that concerns one object only (a message the server cannot deliver)."""

    transient = False
