"""Sending: accept into the outbox, hand to SMTP, file the Sent copy; never deliver twice.

The steps of one send, each recorded in its ``send_message`` action before the next starts
(:mod:`inboxsync.store.sending` lists the markers):

1. ``accept`` stores the raw message (blob), its row, and the action, born ``in_flight`` with a
   lease: the API request that accepted it delivers it, the worker keeps off until the lease ends.
2. ``deliver`` runs MAIL/RCPT, marks ``smtp: data`` (committed), sends DATA, then marks
   ``smtp: done`` with the server's reply. A refusal clears the mark (nothing was delivered).
3. The worker APPENDs the Sent copy (``sent: appending`` first, so that a retry looks for the copy
   by Message-ID instead of appending a second one), records its UID, and removes draft copies.

After a crash: no mark → sent on restart; ``done`` → only the Sent copy is made. ``data`` is the one
window we cannot settle: the process died (or the connection dropped) between handing over the
data and recording the server's answer. That send fails with a message saying so instead of being
sent a second time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from inboxsync.actions.compose import Composed, strip_bcc
from inboxsync.actions.imap import ImapWriter
from inboxsync.actions.outgoing import Outgoing, crash_point, find_by_message_id
from inboxsync.actions.worker import retry_delay
from inboxsync.errors import ObjectError, ProviderError, StorageError
from inboxsync.providers.smtp import DataInterrupted, Delivery, SmtpSender
from inboxsync.store import sending
from inboxsync.store.models import Action, Folder, Grant, Message
from inboxsync.sync.parsing import parse_one

log = logging.getLogger(__name__)

UNKNOWN = (
    "the process stopped after handing the message to the SMTP server and before its answer was "
    "recorded; it may have been delivered, so it is not sent again"
)


@dataclass(frozen=True)
class Accepted:
    action_id: int
    message_id: str
    fresh: bool  # False: an earlier request with the same Idempotency-Key


class Sender:
    """The API's side: accept a send, then try SMTP at once."""

    def __init__(self, outgoing: Outgoing) -> None:
        self.out = outgoing

    async def accept(
        self,
        grant: Grant,
        composed: Composed,
        *,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        draft_id: str | None = None,
    ) -> Accepted:
        if idempotency_key:
            async with self.out.db.session() as session:
                earlier = await sending.by_idempotency_key(session, grant.id, idempotency_key)
            if earlier is not None:
                return Accepted(earlier.id, str(earlier.object_id), False)
        sha = await asyncio.to_thread(self.out.blobs.put, composed.raw)
        record = await asyncio.to_thread(parse_one, composed.raw, time.time())
        try:
            async with self.out.db.transaction() as session:
                sent = None
                if not self.out.files_sent_itself(grant):
                    sent = await sending.folder_with_role(session, grant.id, "sent")
                if draft_id is not None:
                    await sending.set_draft(session, draft_id, False)
                    mid = draft_id
                else:
                    row = await sending.insert_local(
                        session,
                        grant.id,
                        record,
                        draft=False,
                        metadata=metadata,
                        self_email=grant.email,
                    )
                    mid = row.id
                payload = {
                    "sha256": sha,
                    "message_id_header": composed.message_id,
                    "mail_from": composed.mail_from,
                    "recipients": list(composed.recipients),
                    "sent_folder_id": sent.id if sent is not None else None,
                    "draft": draft_id is not None,
                }
                action = sending.accept(
                    session,
                    grant.id,
                    mid,
                    {k: v for k, v in payload.items() if v is not None},
                    idempotency_key=idempotency_key,
                    lease=self.out.config.lease,
                )
                await session.flush()
                accepted = Accepted(action.id, mid, True)
        except StorageError as exc:
            if not idempotency_key or not isinstance(exc.__cause__, IntegrityError):
                raise
            async with self.out.db.session() as session:  # a concurrent twin won the key
                earlier = await sending.by_idempotency_key(session, grant.id, idempotency_key)
            if earlier is None:
                raise
            return Accepted(earlier.id, str(earlier.object_id), False)
        crash_point("send.accepted")
        return accepted

    async def attempt(self, grant: Grant, accepted: Accepted) -> Delivery | None:
        """Deliver now. None: a transient failure, left for the worker to retry. A permanent one
        fails the action, forgets the message (a draft stays a draft) and is raised."""
        try:
            delivery = await deliver(self.out, grant, accepted.action_id)
        except ProviderError as exc:
            if exc.transient:
                async with self.out.db.transaction() as session:
                    await sending.progress(
                        session,
                        accepted.action_id,
                        state="pending",
                        attempts=1,
                        next_attempt_at=time.time() + retry_delay(0),
                        error=str(exc),
                    )
                log.info("send %s deferred: %s", accepted.message_id, exc)
                return None
            await give_up(self.out, grant, accepted.action_id, exc)
            raise
        async with self.out.db.transaction() as session:
            action = await sending.progress(
                session, accepted.action_id, next_attempt_at=time.time()
            )
            more = "sent_folder_id" in action.payload or action.payload.get("draft")
            action.state = "pending" if more else "done"
        return delivery


async def deliver(out: Outgoing, grant: Grant, action_id: int) -> Delivery:
    """Step 2 (see the module docstring); raises the mapped SMTP error."""
    async with out.db.session() as session:
        action = await session.get(Action, action_id)
        if action is None:
            raise ObjectError(f"send action {action_id} is gone")
        payload = dict(action.payload)
    endpoint = out.smtp_of(grant)
    data = await asyncio.to_thread(out.blobs.get, payload["sha256"])

    async def before_data() -> None:
        async with out.db.transaction() as session:
            await sending.progress(
                session, action_id, smtp="data", next_attempt_at=time.time() + out.config.lease
            )
        crash_point("send.data")

    smtp = SmtpSender(endpoint, timeout=out.config.smtp_timeout)
    try:
        delivery = await smtp.send(
            payload["mail_from"], payload["recipients"], strip_bcc(data), before_data=before_data
        )
    except DataInterrupted:
        raise
    except ProviderError:
        async with out.db.transaction() as session:
            await sending.progress(session, action_id, smtp=None)  # refused: nothing delivered
        raise
    async with out.db.transaction() as session:
        await sending.progress(
            session,
            action_id,
            smtp="done",
            smtp_reply=f"{delivery.code} {delivery.message}"[:500],
            refused=delivery.refused or None,
        )
    crash_point("send.smtp_done")
    return delivery


async def give_up(out: Outgoing, grant: Grant, action_id: int, exc: ProviderError) -> None:
    """A permanent failure: the action fails; a message never delivered is forgotten, a draft
    goes back to being a draft; one that may have gone out (DATA interrupted) stays."""
    async with out.db.transaction() as session:
        action = await sending.progress(session, action_id, state="failed", error=str(exc))
        mid = str(action.object_id)
        if isinstance(exc, DataInterrupted):
            return
        if action.payload.get("draft"):
            await sending.set_draft(session, mid, True)
        else:
            await sending.discard(session, grant.id, mid, self_email=grant.email)


class SendHandler:
    """The worker's side: finish what the request could not (or did not live to) finish."""

    def __init__(self, writer: ImapWriter, outgoing: Outgoing) -> None:
        self.writer = writer
        self.out = outgoing

    async def __call__(self, action: Action) -> None:
        async with self.out.db.session() as session:
            grant = await session.get(Grant, action.grant_id)
        if grant is None:
            return
        state = action.payload.get("smtp")
        if state == "data":
            raise ObjectError(UNKNOWN)  # the runner fails it; the message row stays
        if state != "done":
            try:
                await deliver(self.out, grant, action.id)
            except ProviderError as exc:
                if exc.transient:  # not ConnectionLost: that would drop the worker's IMAP session
                    raise ProviderError(str(exc), provider_error=exc.provider_error) from exc
                await give_up(self.out, grant, action.id, exc)
                raise
        async with self.out.db.session() as session:
            fresh = await session.get(Action, action.id)
            payload = dict(fresh.payload) if fresh is not None else dict(action.payload)
        await self.sent_copy(action.id, str(action.object_id), payload)
        if payload.get("draft"):
            from inboxsync.actions.drafts import drop_draft_copies

            await drop_draft_copies(self.writer, str(action.object_id))

    async def sent_copy(self, action_id: int, message_id: str, payload: dict[str, Any]) -> None:
        folder_id = payload.get("sent_folder_id")
        if not folder_id or isinstance(payload.get("sent"), int):
            return
        async with self.out.db.session() as session:
            folder = await session.get(Folder, folder_id)
            message = await session.get(Message, message_id)
        if folder is None or message is None:
            return
        client = self.writer.client
        header = payload.get("message_id_header")
        uid = None
        if payload.get("sent") == "appending":
            uid = await find_by_message_id(client, folder, header)
        if uid is None:
            async with self.out.db.transaction() as session:
                await sending.progress(session, action_id, sent="appending")
            raw = await asyncio.to_thread(self.out.blobs.get, payload["sha256"])
            result = await client.append(folder.path, raw, ["\\Seen"])
            crash_point("send.appended")
            if result is not None and result[0] == folder.uidvalidity:
                uid = result[1]
            elif result is None:
                uid = await find_by_message_id(client, folder, header)
        async with self.out.db.transaction() as session:
            if uid is not None:
                row = await session.get(Message, message_id)
                if row is not None:
                    await sending.place(session, row, folder.id, uid, ["\\Seen"])
            await sending.progress(session, action_id, sent=uid or 0)
