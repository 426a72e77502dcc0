"""Sending: ``POST /v3/grants/{grant_id}/messages/send`` (JSON, multipart, or ``?type=mime``).

The answer is the Message, after SMTP had its say: accepted (sent), refused for good (a 4xx/5xx
with the server's words), or failed for now (the message is answered all the same: the worker
retries it). ``Idempotency-Key`` makes a repeated request return the first one's message.
Bodies may be as large as ``INBOXSYNC_MAX_SEND_BYTES`` of attachments (base64 counted as decoded).
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Receive, Scope, Send

from inboxsync.actions.compose import (
    Composed,
    attachment,
    attachment_from_json,
    compose,
    from_raw_mime,
    reply_of,
)
from inboxsync.actions.outgoing import Outgoing, OutgoingConfig
from inboxsync.actions.send import Sender
from inboxsync.api.deps import RuntimeDep, SessionDep
from inboxsync.api.errors import ApiError
from inboxsync.api.paths import MAX_BODY, BodyLimitMiddleware
from inboxsync.api.routes.messages import expand
from inboxsync.api.views import responses, schemas
from inboxsync.api.views.params import GrantDep
from inboxsync.errors import InvalidRequest, ObjectError
from inboxsync.mime.build import OutgoingAttachment
from inboxsync.mime.types import Address
from inboxsync.runtime import Runtime
from inboxsync.store import queries, sending
from inboxsync.store.models import Action, Grant

router = APIRouter(tags=["sending"], responses=schemas.errors_doc(400, 401, 404, 413))

_LARGE = re.compile(r"^/v3/grants/[^/]+/(messages/send|drafts(/[^/]+)?)$")
_FILE_PART = re.compile(r"^file\d+$")


class SendBodyLimit:
    """The body limit of :class:`BodyLimitMiddleware`, raised for sending and drafts to fit
    ``max_send_bytes`` of attachments in base64 (4/3) plus the rest of the message."""

    def __init__(self, app: ASGIApp, send_limit: int) -> None:
        self.small = BodyLimitMiddleware(app)
        self.large = BodyLimitMiddleware(app, limit=send_limit * 4 // 3 + MAX_BODY)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _LARGE.match(scope.get("path", "")):
            await self.large(scope, receive, send)
        else:
            await self.small(scope, receive, send)


def outgoing_of(runtime: Runtime) -> Outgoing:
    settings = runtime.settings
    config = OutgoingConfig(lease=settings.send_lease_seconds, smtp_timeout=settings.smtp_timeout)
    return Outgoing(runtime.db, runtime.blobs, runtime.sealer, config)


def _check_size(files: list[OutgoingAttachment], limit: int) -> None:
    total = sum(len(f.data) for f in files)
    if total > limit:
        raise ApiError(413, f"attachments total {total} bytes; the limit is {limit}")


async def read_outgoing(
    request: Request, limit: int
) -> tuple[dict[str, Any], list[OutgoingAttachment]]:
    """A send/draft body: JSON (attachments in base64) or multipart (``message`` + file parts)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1000, max_part_size=limit + MAX_BODY)
        message: Any = form.get("message")
        if isinstance(message, UploadFile):
            message = (await message.read()).decode("utf-8")
        body = _json_object(message or "{}")
        files = []
        for name, value in form.multi_items():
            if name == "message" or not isinstance(value, UploadFile):
                continue
            cid = None if _FILE_PART.match(name) else name
            item: dict[str, Any] = {"filename": value.filename, "content_type": value.content_type}
            if cid:
                item |= {"content_id": cid, "is_inline": True}
            files.append(attachment(item, await value.read()))
    else:
        raw = await request.body()
        body = _json_object(raw or b"{}")
        items = body.get("attachments") or []
        if not isinstance(items, list):
            raise InvalidRequest("attachments must be a list")
        files = [attachment_from_json(item) for item in items]
    _check_size(files, limit)
    return body, files


def _json_object(raw: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


async def compose_for(
    runtime: Runtime, grant: Grant, body: dict[str, Any], files: list[OutgoingAttachment]
) -> Composed:
    reply = None
    parent = body.get("reply_to_message_id")
    if parent:
        async with runtime.db.session() as session:
            header, refs = await sending.reply_context(session, grant.id, str(parent))
        reply = reply_of(header, refs)
    return compose(body, files, sender=Address("", grant.email), reply=reply)


def metadata_of(body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("metadata")
    if value is not None and not isinstance(value, dict):
        raise InvalidRequest("metadata must be an object")
    return value


async def message_data(
    runtime: Runtime, grant_id: str, message_id: str, pending_folder: str | None = None
) -> dict[str, Any]:
    async with runtime.db.session() as session:
        row = await queries.message_row(session, grant_id, message_id)
        data = (await expand(session, runtime, [row]))[0]
    if pending_folder and pending_folder not in data["folders"]:
        data["folders"] = [*data["folders"], pending_folder]  # the Sent copy on its way
    return data


def wake(request: Request, grant_id: str) -> None:
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is not None:
        supervisor.notify(grant_id)


async def send_accepted(
    request: Request, runtime: Runtime, grant: Grant, composed: Composed, **accept: Any
) -> dict[str, Any]:
    """Accept, try SMTP, answer with the message (shared with sending a draft)."""
    outgoing = outgoing_of(runtime)
    gmail = grant.provider == "google"  # Google sends through its API: the grant's worker does it
    if not gmail:
        outgoing.smtp_of(grant)  # no SMTP settings: refused before anything is accepted
    sender = Sender(outgoing)
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > 255:
        raise InvalidRequest("Idempotency-Key is longer than 255 characters")
    accepted = await sender.accept(grant, composed, idempotency_key=key, **accept)
    if accepted.fresh and gmail:
        async with runtime.db.transaction() as session:  # release the request's claim at once
            await sending.progress(
                session, accepted.action_id, state="pending", next_attempt_at=time.time()
            )
        wake(request, grant.id)
    elif accepted.fresh:
        await sender.attempt(grant, accepted)
        wake(request, grant.id)
    async with runtime.db.session() as session:
        action = await session.get(Action, accepted.action_id)
    if action is not None and action.state == "failed" and not accepted.fresh:
        raise ObjectError(action.last_error or "this send failed")
    folder = action.payload.get("sent_folder_id") if action is not None else None
    return await message_data(runtime, grant.id, accepted.message_id, folder)


@router.post(
    "/v3/grants/{grant_id}/messages/send",
    summary="Send a message (JSON, multipart form data, or raw MIME with ?type=mime)",
    response_class=responses.JsonBytes,
    responses=schemas.one_doc(schemas.MessageEnvelope, schemas.EXAMPLE_MESSAGE),
)
async def send_message(
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    type: Annotated[str | None, Query(description="mime: the body is a raw message")] = None,
) -> responses.JsonBytes:
    await session.commit()  # no read snapshot held across SMTP
    limit = runtime.settings.max_send_bytes
    if (type or "").lower() == "mime":
        form = await request.form(max_files=10, max_part_size=limit + MAX_BODY)
        part = form.get("mime")
        raw = await part.read() if isinstance(part, UploadFile) else str(part or "").encode()
        if len(raw) > limit + MAX_BODY:
            raise ApiError(413, f"the message is larger than {limit} bytes")
        composed = from_raw_mime(raw, sender=Address("", grant.email))
        data = await send_accepted(request, runtime, grant, composed)
    else:
        body, files = await read_outgoing(request, limit)
        composed = await compose_for(runtime, grant, body, files)
        data = await send_accepted(request, runtime, grant, composed, metadata=metadata_of(body))
    return responses.one(request, data)
