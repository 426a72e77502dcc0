"""The Gmail client against the fake: token refresh before expiry and on 401, quota pacing."""

from __future__ import annotations

import time

import httpx
import pytest

from inboxsync.errors import AuthError
from inboxsync.providers.gmail.client import GmailClient
from inboxsync.providers.gmail.oauth import GoogleConfig
from inboxsync.providers.gmail.quota import TokenBucket
from tests.support.gmail_fake import CLIENT_ID, CLIENT_SECRET, GmailFake


def client_for(fake: GmailFake, refresh: str, bucket: TokenBucket | None = None) -> GmailClient:
    config = GoogleConfig(
        CLIENT_ID,
        CLIENT_SECRET,
        "http://g.test/token",
        "http://g.test",
        httpx.ASGITransport(app=fake.app),
    )
    return GmailClient(
        config, refresh, user="u-" + refresh[-6:], bucket=bucket or TokenBucket(), backoff=0.01
    )


async def test_token_refreshed_before_expiry_and_after_401() -> None:
    fake = GmailFake()
    _, refresh = fake.add_user("a@example.com")
    async with client_for(fake, refresh) as client:
        await client.profile()
        await client.profile()
        assert fake.token_refreshes == 1
        client.tokens.expires_at = time.monotonic() + 60  # inside the margin: refresh first
        await client.profile()
        assert fake.token_refreshes == 2
        fake.expire_access_tokens()  # Google refuses the token early: refresh once, repeat
        await client.profile()
        assert fake.token_refreshes == 3
        fake.revoke("a@example.com")
        with pytest.raises(AuthError):
            await client.profile()


async def test_bucket_paces_calls_to_the_refill_rate() -> None:
    bucket = TokenBucket(capacity=10, rate=100)  # 10 units at once, then 100 a second
    started = time.monotonic()
    for _ in range(6):
        await bucket.acquire(5)  # 30 units: 20 beyond the burst = 0.2 s
    assert 0.15 < time.monotonic() - started < 0.6
