"""SSRF guard: no request to private, loopback, link-local or otherwise special addresses.

The guard sits in the connection layer: the host is resolved once, every address it resolves to is
checked, and the socket connects to a checked address, so a second DNS answer (rebinding) cannot
slip past. TLS still verifies the certificate against the host name. The operator allows private
addresses with ``INBOXSYNC_WEBHOOK_ALLOW_PRIVATE=1`` (tests do, for loopback receivers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from inboxsync.core import netguard
from inboxsync.core.netguard import Address, is_public
from inboxsync.errors import InvalidRequest

TIMEOUT = 10.0  # seconds, for every request (connect, read, write, pool)
__all__ = [
    "TIMEOUT",
    "Address",
    "Blocked",
    "GuardedBackend",
    "check_url",
    "checked",
    "client",
    "is_public",
    "resolve",
]


class Blocked(httpcore.ConnectError):
    """The host resolves to an address deliveries may not reach."""


async def resolve(host: str, port: int) -> list[Address]:
    try:
        return await netguard.resolve(host, port)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc


async def checked(host: str, port: int, allow_private: bool) -> list[Address]:
    """Every address of ``host``, or :class:`Blocked` if any of them is not public."""
    addresses = await resolve(host, port)
    if not addresses:
        raise httpcore.ConnectError(f"{host} has no address")
    bad = [str(a) for a in addresses if not is_public(a)]
    if bad and not allow_private:
        raise Blocked(f"{host} resolves to a non-public address ({', '.join(bad[:3])})")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's AnyIO backend, connecting only to checked addresses."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked(host, port, self.allow_private)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Blocked("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(
    allow_private: bool, max_connections: int = 100, timeout: float = TIMEOUT
) -> httpx.AsyncClient:
    """An HTTP client with the guard, 10 s timeouts, no proxies from the environment, no redirects."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    # httpx takes no network backend; its pool is rebuilt with the same settings plus the guard.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_private),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "inboxsync-webhooks"},
    )


async def check_url(url: str, allow_private: bool) -> None:
    """A webhook URL we may call: http(s), a host, and only public addresses (unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("webhook_url must be an http or https URL with a host")
    if parts.username or parts.password:
        raise InvalidRequest("webhook_url must not carry credentials")
    try:
        await checked(parts.hostname, parts.port or 443, allow_private)
    except Blocked as exc:
        raise InvalidRequest(f"webhook_url: {exc}") from exc
    except httpcore.ConnectError as exc:
        raise InvalidRequest(f"webhook_url: {exc}") from exc
