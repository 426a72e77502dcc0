"""What sending and drafts share: SMTP settings of a grant, the test crash hook, and the action
handlers registered with the write-back worker (``SyncDeps.handlers_for``)."""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inboxsync.core.accounts import Endpoint, ImapAccount
from inboxsync.errors import InvalidRequest
from inboxsync.providers.imap.client import ImapClient
from inboxsync.store.blobs import BlobStore
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database
from inboxsync.store.models import Folder, Grant

if TYPE_CHECKING:
    from inboxsync.actions.imap import ImapWriter
    from inboxsync.actions.worker import Handler

log = logging.getLogger(__name__)

CRASH_ENV = "INBOXSYNC_TEST_CRASH_AT"
# SMTP servers that file a copy of what they send in the Sent folder themselves.
SELF_FILING = ("gmail.com", "googlemail.com", "office365.com", "outlook.com", "hotmail.com")


def crash_point(name: str) -> None:
    """Test hook: SIGKILL this process at a named point when ``INBOXSYNC_TEST_CRASH_AT`` names it
    (comma-separated). Points: send.accepted, send.data, send.smtp_done, send.appended,
    draft.appended."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted and name in wanted.split(","):
        log.warning("test crash point %s: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class OutgoingConfig:
    lease: float = 300.0  # seconds a request keeps the send it delivers
    smtp_timeout: float = 60.0


@dataclass
class Outgoing:
    """What sending needs from a process."""

    db: Database
    blobs: BlobStore
    sealer: Sealer
    config: OutgoingConfig = OutgoingConfig()

    def smtp_of(self, grant: Grant) -> Endpoint:
        if not grant.settings.get("smtp_host"):
            raise InvalidRequest("this grant has no SMTP settings (smtp_host and friends)")
        account = ImapAccount.from_stored(
            grant.email, grant.settings, self.sealer.open(grant.credentials)
        )
        if account.smtp is None:
            raise InvalidRequest("this grant has no SMTP settings (smtp_host and friends)")
        return account.smtp

    @staticmethod
    def files_sent_itself(grant: Grant) -> bool:
        """Skip our Sent copy: the grant says so, or the server is known to file its own."""
        setting = grant.settings.get("sent_copy")
        if setting is not None:
            return not bool(setting)
        host = str(grant.settings.get("smtp_host") or "").lower()
        return any(host == d or host.endswith("." + d) for d in SELF_FILING)


async def expunge_uids(client: ImapClient, folder: Folder, uids: list[int]) -> None:
    """Remove these UIDs from a folder (UID EXPUNGE with UIDPLUS, else they stay \\Deleted)."""
    real = [u for u in uids if u > 0]
    if not real:
        return
    await client.select(folder.path)
    await client.uid_store(real, ["\\Deleted"], mode="+")
    if "UIDPLUS" in client.capabilities:
        await client.uid_expunge(real)


async def find_by_message_id(client: ImapClient, folder: Folder, header: str | None) -> int | None:
    if not header:
        return None
    await client.select(folder.path)
    escaped = header.replace("\\", "\\\\").replace('"', '\\"')
    found = await client.uid_search(f'HEADER Message-ID "{escaped}"')
    return max(found) if found else None


def outgoing_handlers(
    writer: ImapWriter, blobs: BlobStore, sealer: Sealer, config: OutgoingConfig | None = None
) -> dict[str, Handler]:
    """The handlers of ``send_message``, ``save_draft`` and ``delete_draft`` over one writer."""
    from inboxsync.actions.drafts import DraftHandler
    from inboxsync.actions.send import SendHandler

    outgoing = Outgoing(writer.db, blobs, sealer, config or OutgoingConfig())
    drafts = DraftHandler(writer, outgoing)
    return {
        "send_message": SendHandler(writer, outgoing).__call__,
        "save_draft": drafts.save,
        "delete_draft": drafts.delete,
    }
