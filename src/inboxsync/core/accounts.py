"""Connection settings of a mail account, validated from the Nylas ``connect/custom`` shape.

``{"imap_host", "imap_port", "imap_username", "imap_password", "imap_security": "ssl"|"starttls"|"none",
and the same five for ``smtp_``}``. Secrets (passwords) are split off so that the store can seal them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from inboxsync.errors import InvalidRequest

Security = Literal["ssl", "starttls", "none"]
SECURITIES = ("ssl", "starttls", "none")
DEFAULT_PORTS = {
    "imap": {"ssl": 993, "starttls": 143, "none": 143},
    "smtp": {"ssl": 465, "starttls": 587, "none": 25},
}


@dataclass(frozen=True)
class Endpoint:
    """A server to log in to. ``password`` (or ``oauth_token``) is the secret part."""

    host: str
    port: int
    security: Security
    username: str
    password: str = field(default="", repr=False)
    oauth_token: str = field(default="", repr=False)
    #: Connect only to public addresses, checked at every connection (core/netguard.py): set for
    #: accounts an application connected, so that DNS changed after the connect check (rebinding)
    #: cannot point sync or send at this server's own network.
    public_only: bool = False

    def public(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_host": self.host,
            f"{prefix}_port": self.port,
            f"{prefix}_security": self.security,
            f"{prefix}_username": self.username,
        }


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _endpoint(settings: Mapping[str, Any], prefix: str, *, required: bool) -> Endpoint | None:
    host = settings.get(f"{prefix}_host")
    if not host:
        if required:
            raise InvalidRequest(f"settings.{prefix}_host is required")
        return None
    if not isinstance(host, str) or len(host) > 255 or any(c.isspace() for c in host):
        raise InvalidRequest(f"settings.{prefix}_host is not a host name")
    security = settings.get(f"{prefix}_security")
    raw_port = settings.get(f"{prefix}_port")
    if security is None:
        security = "ssl" if raw_port in (None, 993, 465, "993", "465") else "starttls"
    if security not in SECURITIES:
        raise InvalidRequest(f"settings.{prefix}_security must be one of ssl, starttls, none")
    try:
        port = int(raw_port) if raw_port not in (None, "") else DEFAULT_PORTS[prefix][security]
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"settings.{prefix}_port is not a number") from exc
    if not 0 < port < 65536:
        raise InvalidRequest(f"settings.{prefix}_port must be between 1 and 65535")
    username = settings.get(f"{prefix}_username") or (
        settings.get("imap_username") if prefix == "smtp" else None
    )
    password = settings.get(f"{prefix}_password") or (
        settings.get("imap_password") if prefix == "smtp" else None
    )
    if not isinstance(username, str) or not username:
        raise InvalidRequest(f"settings.{prefix}_username is required")
    if not isinstance(password, str) or not password:
        raise InvalidRequest(f"settings.{prefix}_password is required")
    checked: Security = (
        "ssl" if security == "ssl" else "starttls" if security == "starttls" else "none"
    )
    return Endpoint(
        host=host,
        port=port,
        security=checked,
        username=username,
        password=password,
        public_only=settings.get("public_only") is True,
    )


@dataclass(frozen=True)
class ImapAccount:
    """What a grant of provider ``imap`` needs to sync and send."""

    email: str
    imap: Endpoint
    smtp: Endpoint | None

    def public_settings(self) -> dict[str, Any]:
        out = self.imap.public("imap")
        if self.smtp is not None:
            out.update(self.smtp.public("smtp"))
        return out

    def secrets(self) -> dict[str, Any]:
        """What the store seals: the passwords, and (not shown with the settings) whether the
        account may only reach public addresses."""
        out: dict[str, Any] = {"imap_password": self.imap.password}
        if self.smtp is not None:
            out["smtp_password"] = self.smtp.password
        if self.imap.public_only:
            out["public_only"] = True
        return out

    def public_only(self) -> ImapAccount:
        """This account, allowed to reach public addresses only."""
        smtp = None if self.smtp is None else replace(self.smtp, public_only=True)
        return replace(self, imap=replace(self.imap, public_only=True), smtp=smtp)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], *, allow_plaintext_remote: bool = False
    ) -> ImapAccount:
        if not isinstance(settings, Mapping):
            raise InvalidRequest("settings must be an object")
        imap = _endpoint(settings, "imap", required=True)
        if imap is None:  # required=True raised already
            raise InvalidRequest("settings.imap_host is required")
        smtp = _endpoint(settings, "smtp", required=False)
        for endpoint in (imap, smtp):
            if (
                endpoint
                and endpoint.security == "none"
                and not allow_plaintext_remote
                and not is_loopback(endpoint.host)
            ):
                raise InvalidRequest(
                    f"plaintext (security 'none') is allowed only to loopback, not {endpoint.host}; "
                    "use ssl or starttls, or set INBOXSYNC_ALLOW_PLAINTEXT_REMOTE=1"
                )
        email = settings.get("email") or (imap.username if "@" in imap.username else "")
        if not isinstance(email, str):
            raise InvalidRequest("settings.email must be a string")
        return cls(email=email or imap.username, imap=imap, smtp=smtp)

    @classmethod
    def from_stored(
        cls, email: str, public: Mapping[str, Any], secrets: Mapping[str, Any]
    ) -> ImapAccount:
        """Rebuild from a grant's stored settings and its unsealed secrets (no plaintext check)."""
        return cls.from_settings({**public, **secrets, "email": email}, allow_plaintext_remote=True)
