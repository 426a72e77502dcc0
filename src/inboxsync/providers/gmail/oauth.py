"""OAuth 2.0 access tokens from a stored refresh token (RFC 6749 §6; Google's token endpoint).

https://developers.google.com/identity/protocols/oauth2/web-server#offline: a refresh token is exchanged
at ``POST https://oauth2.googleapis.com/token`` (``grant_type=refresh_token``) for an access token that
lives ``expires_in`` seconds (about an hour). ``invalid_grant`` means the user revoked access, changed the
password, or the token expired: that is the one answer that makes a grant invalid. Anything else
(5xx, network, a misconfigured client) is transient from the grant's point of view.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from inboxsync.errors import AuthError, ConnectionLost, ProtocolError
from inboxsync.providers.gmail.failures import parse_body

REFRESH_MARGIN = 300.0  # refresh this many seconds before the token expires


@dataclass(frozen=True)
class GoogleConfig:
    """The operator's OAuth client and Google's endpoints (configurable so tests use the fake)."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    token_url: str = "https://oauth2.googleapis.com/token"
    api_url: str = "https://gmail.googleapis.com"
    transport: httpx.AsyncBaseTransport | None = None  # tests: the fake, in process
    timeout: float = 60.0


class TokenSource:
    """Hands out a current access token; refreshes before expiry, or at once after a 401."""

    def __init__(self, config: GoogleConfig, refresh_token: str, http: httpx.AsyncClient) -> None:
        self.config = config
        self.refresh_token = refresh_token
        self.http = http
        self.access_token: str | None = None
        self.expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, stale: str | None = None) -> str:
        """A valid access token. ``stale``: the token a 401 refused; it is not handed out again."""
        async with self._lock:
            fresh = time.monotonic() < self.expires_at - REFRESH_MARGIN
            if self.access_token is None or not fresh or self.access_token == stale:
                await self._refresh()
            assert self.access_token is not None
            return self.access_token

    async def _refresh(self) -> None:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        try:
            response = await self.http.post(self.config.token_url, data=data)
        except httpx.HTTPError as exc:
            raise ConnectionLost(f"token refresh: {exc.__class__.__name__}: {exc}") from exc
        body = parse_body(response.content)
        if response.status_code == 200 and isinstance(body.get("access_token"), str):
            self.access_token = body["access_token"]
            self.expires_at = time.monotonic() + float(body.get("expires_in", 3600))
            return
        error = str(body.get("error", ""))
        text = f"token refresh: HTTP {response.status_code} {error} {body.get('error_description', '')}"
        if error == "invalid_grant":
            raise AuthError(text.strip(), provider_error={"error": error})
        if response.status_code >= 500 or response.status_code == 429:
            raise ConnectionLost(text.strip())
        raise ProtocolError(text.strip(), provider_error={"error": error})
