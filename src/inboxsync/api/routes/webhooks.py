"""Webhook destinations (Nylas v3): ``/v3/webhooks`` CRUD, rotate-secret, ip-addresses.

Create runs the challenge handshake first (the secret exists only once it passed) and returns the
secret once; rotate-secret returns the new one. ``PUT`` with ``status: active`` re-activates a
failing or failed destination (after a new challenge) and makes its queued notifications due now.
A stored key sees the destinations it created, which receive the changes of its grants only.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from inboxsync.api.deps import PrincipalDep, RuntimeDep, SessionDep
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import body_doc, checked_id, read_json
from inboxsync.errors import InvalidRequest
from inboxsync.events import challenge, payload
from inboxsync.events.types import ACCEPTED
from inboxsync.runtime import Runtime
from inboxsync.store import deliveries, webhooks
from inboxsync.store.models import Webhook

router = APIRouter(tags=["webhooks"], responses=schemas.errors_doc(400, 401, 404))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    trigger_types: list[str] = Field(min_length=1, max_length=50)
    webhook_url: str = Field(min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=1000)
    notification_email_addresses: list[str] = Field(default_factory=list, max_length=25)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    trigger_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=1000)
    notification_email_addresses: list[str] | None = Field(default=None, max_length=25)
    status: Literal["active", "pause", "failing", "failed"] | None = None


class WebhookOut(BaseModel):
    id: str
    description: str | None = None
    trigger_types: list[str]
    webhook_url: str
    status: str
    notification_email_addresses: list[str]
    status_updated_at: int
    created_at: int
    updated_at: int
    webhook_secret: str | None = None


class WebhookEnvelope(BaseModel):
    request_id: str
    data: WebhookOut


class WebhookList(BaseModel):
    request_id: str
    data: list[WebhookOut]
    next_cursor: str | None = None


class IpAddresses(BaseModel):
    ip_addresses: list[str]
    updated_at: int


class IpEnvelope(BaseModel):
    request_id: str
    data: IpAddresses


EXAMPLE: dict[str, Any] = {
    "id": "01j8x3m4c5d6e7f8g9h0webhk1",
    "description": "CRM",
    "trigger_types": ["message.created"],
    "webhook_url": "https://crm.example.com/nylas",
    "status": "active",
    "notification_email_addresses": [],
    "status_updated_at": 1723800000,
    "created_at": 1723800000,
    "updated_at": 1723800000,
}


def _triggers(values: list[str]) -> list[str]:
    unknown = [t for t in values if t not in ACCEPTED]
    if unknown:
        raise InvalidRequest(f"unknown trigger_types: {', '.join(unknown[:5])}")
    return list(dict.fromkeys(values))


def view(hook: Webhook, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": hook.id,
        "description": hook.description,
        "trigger_types": list(hook.trigger_types or []),
        "webhook_url": hook.webhook_url,
        "status": hook.status,
        "notification_email_addresses": list(hook.notification_email_addresses or []),
        "status_updated_at": hook.status_updated_at,
        "created_at": hook.created_at,
        "updated_at": hook.updated_at,
    }
    if secret is not None:
        out["webhook_secret"] = secret
    return out


def _seal(runtime: Runtime, secret: str) -> bytes:
    return runtime.sealer.seal({"secret": secret})


@router.get(
    "/v3/webhooks",
    summary="List webhook destinations",
    response_class=responses.JsonBytes,
    responses=schemas.many_doc(WebhookList, EXAMPLE),
)
async def list_webhooks(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> responses.JsonBytes:
    rows = await webhooks.list_(session, api_key_id=principal.api_key_id)
    return responses.many(request, [view(h) for h in rows], None)


@router.post(
    "/v3/webhooks",
    summary="Create a webhook destination (after the challenge handshake)",
    response_class=responses.JsonBytes,
    responses={**schemas.one_doc(WebhookEnvelope, EXAMPLE), **schemas.errors_doc(413, 415)},
    openapi_extra=body_doc(
        WebhookCreate,
        {"trigger_types": ["message.created"], "webhook_url": "https://crm.example.com/nylas"},
    ),
)
async def create_webhook(
    request: Request, principal: PrincipalDep, session: SessionDep, runtime: RuntimeDep
) -> responses.JsonBytes:
    body = await read_json(request, WebhookCreate)
    triggers = _triggers(body.trigger_types)
    await challenge.verify_endpoint(body.webhook_url, runtime.settings.webhook_allow_private)
    secret = payload.new_secret()
    hook = await webhooks.create(
        session,
        api_key_id=principal.api_key_id,
        webhook_url=body.webhook_url,
        trigger_types=triggers,
        description=body.description,
        notification_email_addresses=body.notification_email_addresses,
        sealed_secret=_seal(runtime, secret),
    )
    await session.commit()
    return responses.one(request, view(hook, secret))


@router.get(
    "/v3/webhooks/ip-addresses",
    summary="Addresses notifications come from",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(IpEnvelope, {"ip_addresses": [], "updated_at": 1723800000}),
)
async def ip_addresses(request: Request, principal: PrincipalDep) -> responses.JsonBytes:
    # Self-hosted: notifications leave from wherever the operator runs ``inboxsync webhooks``.
    del principal
    return responses.one(request, {"ip_addresses": [], "updated_at": int(time.time())})


@router.get(
    "/v3/webhooks/{webhook_id}",
    summary="Find a webhook destination",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(WebhookEnvelope, EXAMPLE),
)
async def find_webhook(
    request: Request, webhook_id: str, principal: PrincipalDep, session: SessionDep
) -> responses.JsonBytes:
    hook = await webhooks.get(
        session, checked_id("webhook", webhook_id), api_key_id=principal.api_key_id
    )
    return responses.one(request, view(hook))


@router.put(
    "/v3/webhooks/{webhook_id}",
    summary="Update a webhook destination (status active re-activates it)",
    response_class=responses.JsonBytes,
    responses={**schemas.one_doc(WebhookEnvelope, EXAMPLE), **schemas.errors_doc(413, 415)},
    openapi_extra=body_doc(WebhookUpdate, {"status": "active"}),
)
async def update_webhook(
    request: Request,
    webhook_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> responses.JsonBytes:
    body = await read_json(request, WebhookUpdate)
    if body.status in ("failing", "failed"):
        raise InvalidRequest("status can be set to active or pause only")
    hook = await webhooks.get(
        session, checked_id("webhook", webhook_id), api_key_id=principal.api_key_id
    )
    values: dict[str, Any] = {}
    if body.trigger_types is not None:
        values["trigger_types"] = _triggers(body.trigger_types)
    if body.description is not None:
        values["description"] = body.description
    if body.notification_email_addresses is not None:
        values["notification_email_addresses"] = body.notification_email_addresses
    url_changed = body.webhook_url is not None and body.webhook_url != hook.webhook_url
    reactivate = body.status == "active" and hook.status != "active"
    if url_changed or reactivate:
        url = body.webhook_url or hook.webhook_url
        await challenge.verify_endpoint(url, runtime.settings.webhook_allow_private)
        values["webhook_url"] = url
    webhooks.update_fields(hook, values)
    if body.status == "pause":
        webhooks.set_status(hook, "pause", failing_since=hook.failing_since)
    elif reactivate:
        webhooks.set_status(hook, "active")
        await deliveries.rearm(session, hook.id)
    await session.commit()
    return responses.one(request, view(hook))


@router.put(
    "/v3/webhooks/{webhook_id}/rotate-secret",
    summary="Replace the signing secret of a webhook destination",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(WebhookEnvelope, {**EXAMPLE, "webhook_secret": "9f" * 32}),
)
async def rotate_secret(
    request: Request,
    webhook_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> responses.JsonBytes:
    hook = await webhooks.get(
        session, checked_id("webhook", webhook_id), api_key_id=principal.api_key_id
    )
    secret = payload.new_secret()
    webhooks.update_fields(hook, {"secret": _seal(runtime, secret)})
    await session.commit()
    return responses.one(request, view(hook, secret))


@router.delete(
    "/v3/webhooks/{webhook_id}",
    summary="Delete a webhook destination and its queued notifications",
    response_class=responses.JsonBytes,
    responses=schemas.DELETED_DOC,
)
async def delete_webhook(
    request: Request, webhook_id: str, principal: PrincipalDep, session: SessionDep
) -> responses.JsonBytes:
    hook = await webhooks.get(
        session, checked_id("webhook", webhook_id), api_key_id=principal.api_key_id
    )
    await webhooks.delete(session, hook)
    await session.commit()
    return responses.deleted(request)
