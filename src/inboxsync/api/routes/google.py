"""The ``google`` branch of ``POST /v3/connect/custom`` and the Pub/Sub push endpoint's work.

Connect: ``settings.refresh_token`` (from the operator's own OAuth consent flow) plus the operator's
client id and secret (``INBOXSYNC_GOOGLE_CLIENT_ID``/``_SECRET``). The token is tried before anything is
stored (``getProfile`` gives the address); only the refresh token is kept, sealed. Connecting the same
Google address again re-authenticates its grant; Gmail ids are the API's ids, so one address can have
one Google grant only.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.errors import Conflict, InvalidRequest, NotFound
from inboxsync.providers.gmail.client import GmailClient
from inboxsync.runtime import Runtime
from inboxsync.store import gmail as gmail_store
from inboxsync.store import grants
from inboxsync.store.models import Grant
from inboxsync.sync.gmail import push as gmail_push
from inboxsync.sync.gmail.account import config_from_settings


async def connect(
    runtime: Runtime, session: AsyncSession, settings: dict[str, Any], api_key_id: str | None
) -> Grant:
    refresh = settings.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise InvalidRequest("settings.refresh_token is required for provider google")
    config = config_from_settings(runtime.settings)
    if not config.client_id or not config.client_secret:
        raise InvalidRequest(
            "provider google needs INBOXSYNC_GOOGLE_CLIENT_ID and INBOXSYNC_GOOGLE_CLIENT_SECRET"
        )
    async with GmailClient(config, refresh, user="connect-" + secrets.token_hex(8)) as client:
        email = str((await client.profile())["emailAddress"])
    sealed = runtime.sealer.seal({"refresh_token": refresh})
    grant = await gmail_store.google_grant(session, email)
    if grant is not None:
        if api_key_id is not None and grant.api_key_id != api_key_id:
            raise Conflict(f"{email} is connected already by another API key")
        await grants.update_credentials(session, grant, settings={}, sealed_credentials=sealed)
        return grant
    return await grants.create(
        session,
        provider="google",
        email=email,
        settings={},
        sealed_credentials=sealed,
        api_key_id=api_key_id,
    )


async def push(runtime: Runtime, session: AsyncSession, token: str, body: Any) -> None:
    """Wake the sync of the grant a Pub/Sub notification names."""
    expected = runtime.settings.google_push_token
    if expected is None or not hmac.compare_digest(token, expected.get_secret_value()):
        raise NotFound("not found")
    decoded = gmail_push.decode(body) if isinstance(body, dict) else None
    if decoded is None:
        raise InvalidRequest("not a Pub/Sub push message")
    grant = await gmail_store.google_grant(session, decoded[0])
    if grant is not None:
        gmail_push.notify(grant.id)
