"""``POST /v3/connect/custom``: connect an account with its credentials (Nylas v3 custom auth).

The login is tried before anything is stored: a wrong password answers 401 with the server's words and
leaves nothing behind. Connecting an address that this key already has re-authenticates that grant.
"""

from __future__ import annotations

from typing import Any, Literal

import httpcore
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from inboxsync.api.deps import PrincipalDep, RuntimeDep, SessionDep
from inboxsync.api.envelope import one
from inboxsync.api.routes import google
from inboxsync.api.views import schemas
from inboxsync.core.accounts import ImapAccount
from inboxsync.errors import InvalidRequest, NotFound
from inboxsync.events import guard
from inboxsync.store import grants
from inboxsync.store.models import Grant
from inboxsync.sync.imap.session import check_login

router = APIRouter(tags=["grants"])


class ConnectRequest(BaseModel):
    provider: Literal["imap", "google"] = Field(description="The mail provider.")
    settings: dict[str, Any] = Field(
        description="For IMAP: imap_host, imap_port, imap_username, imap_password, imap_security "
        "(ssl, starttls or none) and the same for smtp_.",
        examples=[
            {
                "imap_host": "imap.example.com",
                "imap_port": 993,
                "imap_security": "ssl",
                "imap_username": "me@example.com",
                "imap_password": "app password",
                "smtp_host": "smtp.example.com",
                "smtp_port": 587,
                "smtp_security": "starttls",
            }
        ],
    )
    state: str | None = None
    scope: list[str] | None = None


def grant_json(grant: Grant) -> dict[str, Any]:
    """A grant as the Nylas SDK reads it (``id`` and ``provider`` required); no secrets."""
    return {
        "id": grant.id,
        "provider": grant.provider,
        "grant_status": grant.grant_status,
        "email": grant.email,
        "scope": [],
        "settings": grant.settings,
        "state": None,
        "created_at": grant.created_at,
        "updated_at": grant.updated_at,
    }


async def refuse_private_hosts(account: ImapAccount) -> None:
    """An application's key may not make this server connect to its own network (loopback, private
    ranges): that would turn connect into a port scanner. The operator's key may, and so may every key
    when the operator sets INBOXSYNC_ALLOW_PRIVATE_MAIL_HOSTS=1 (mail servers on the LAN)."""
    for endpoint, name in ((account.imap, "imap_host"), (account.smtp, "smtp_host")):
        if endpoint is None:
            continue
        try:
            addresses = await guard.resolve(endpoint.host, endpoint.port)
        except httpcore.ConnectError as exc:
            raise InvalidRequest(f"settings.{name}: {exc}") from exc
        if any(not guard.is_public(a) for a in addresses):
            raise InvalidRequest(
                f"settings.{name} {endpoint.host!r} is on a private network; only the operator may "
                "connect such accounts (or set INBOXSYNC_ALLOW_PRIVATE_MAIL_HOSTS=1)"
            )


@router.post(
    "/v3/connect/custom",
    summary="Connect an account with its credentials",
    # 401: no or a wrong API key, or the mail server refused the login; 504: it could not be reached.
    responses=schemas.errors_doc(400, 401, 404, 409, 429, 504),
)
async def connect_custom(
    request: Request,
    body: ConnectRequest,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    session: SessionDep,
) -> dict[str, Any]:
    if body.provider == "google":
        grant = await google.connect(runtime, session, body.settings, principal.api_key_id)
        await session.commit()
        _wake(request)
        return one(request, grant_json(grant))
    account = ImapAccount.from_settings(
        body.settings, allow_plaintext_remote=runtime.settings.allow_plaintext_remote
    )
    if not principal.is_operator and not runtime.settings.allow_private_mail_hosts:
        await refuse_private_hosts(account)
        # And at every later connection too (a DNS answer may change after this check).
        account = account.public_only()
    await check_login(account)
    sealed = runtime.sealer.seal(account.secrets())
    try:
        grant = await grants.find_by_email(session, account.email, api_key_id=principal.api_key_id)
        if grant.provider != "imap":
            raise NotFound("another provider")
        await grants.update_credentials(
            session, grant, settings=account.public_settings(), sealed_credentials=sealed
        )
    except NotFound:
        grant = await grants.create(
            session,
            provider="imap",
            email=account.email,
            settings=account.public_settings(),
            sealed_credentials=sealed,
            api_key_id=principal.api_key_id,
        )
    await session.commit()
    _wake(request)
    return one(request, grant_json(grant))


def _wake(request: Request) -> None:
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None:
        supervisor.wake()


@router.post(
    "/v3/google/push", summary="Gmail Pub/Sub push: sync the mailbox now", include_in_schema=False
)
async def google_push(request: Request, runtime: RuntimeDep, session: SessionDep) -> dict[str, Any]:
    """Google Cloud Pub/Sub push endpoint for Gmail ``users.watch``; needs ``?token=`` to match
    ``INBOXSYNC_GOOGLE_PUSH_TOKEN`` (404 when that is not set)."""
    await google.push(runtime, session, request.query_params.get("token", ""), await request.json())
    return one(request, {"status": "accepted"})
