"""The challenge handshake Nylas does before a destination is created or re-activated.

``GET <webhook_url>?challenge=<random>``; the endpoint must answer 200 within 10 s with exactly the
value as its body (no quotes, no JSON). The SSRF guard applies as for deliveries.
"""

from __future__ import annotations

import secrets

import httpx

from inboxsync.errors import InvalidRequest
from inboxsync.events import guard


async def verify_endpoint(url: str, allow_private: bool) -> None:
    """Raise :class:`InvalidRequest` unless ``url`` echoes a fresh challenge."""
    await guard.check_url(url, allow_private)
    value = secrets.token_urlsafe(24)
    try:
        async with guard.client(allow_private, max_connections=1) as http:
            response = await http.get(url, params={"challenge": value})
    except guard.Blocked as exc:  # pragma: no cover - check_url refused it first
        raise InvalidRequest(f"webhook_url: {exc}") from exc
    except httpx.HTTPError as exc:
        raise InvalidRequest(
            f"webhook_url did not answer the challenge: {exc.__class__.__name__}: {exc}"
        ) from exc
    if response.status_code != 200:
        raise InvalidRequest(
            f"webhook_url answered the challenge with HTTP {response.status_code}, not 200"
        )
    if response.content.strip() != value.encode():
        raise InvalidRequest("webhook_url must answer the challenge with the challenge value")
