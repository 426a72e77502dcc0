"""Connect only to public addresses: the guard against a mail or webhook host that resolves to this
server's own network (loopback, private ranges, link-local...).

The host is resolved once, every address it resolves to is checked, and the socket connects to a
checked address, so a second DNS answer (rebinding between a check and a connect) cannot slip past.
TLS still verifies the certificate against the host name (callers pass the socket plus the name).
``events/guard.py`` (webhooks) and the IMAP and SMTP clients use it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from inboxsync.errors import ConnectionLost

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotPublic(ConnectionLost):
    """The host resolves to an address this server may not connect to for this account."""


def is_public(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


async def resolve(host: str, port: int) -> list[Address]:
    """Every address of ``host`` (itself when it is an address); OSError when it has none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, Address] = {}
    for info in infos:
        addr = str(info[4][0]).split("%")[0]
        seen.setdefault(addr, ipaddress.ip_address(addr))
    if not seen:
        raise OSError(f"{host} has no address")
    return list(seen.values())


async def public_addresses(host: str, port: int) -> list[Address]:
    """The addresses of ``host``, or :class:`NotPublic` when any of them is not public."""
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise ConnectionLost(f"cannot resolve {host}: {exc}") from exc
    bad = [str(a) for a in addresses if not is_public(a)]
    if bad:
        raise NotPublic(
            f"{host} resolves to a non-public address ({', '.join(bad[:3])}); this account may "
            "only reach public mail servers"
        )
    return addresses


async def connect_public(host: str, port: int, timeout: float) -> socket.socket:  # noqa: ASYNC109
    """A connected (non-blocking) socket to a checked public address of ``host``."""
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for ip in await public_addresses(host, port):
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (str(ip), port))
            return sock
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc if isinstance(exc, OSError) else OSError(f"timed out after {timeout} s")
    raise ConnectionLost(f"cannot connect to {host}:{port}: {last!r}")
