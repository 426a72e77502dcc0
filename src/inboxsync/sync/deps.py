"""What every grant's sync shares inside one process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from inboxsync.actions.imap import ImapWriter
from inboxsync.actions.worker import Handler
from inboxsync.store.blobs import BlobStore
from inboxsync.store.crypto import Sealer
from inboxsync.store.db import Database
from inboxsync.sync.parsing import Parser

if TYPE_CHECKING:  # imported where used: a process with no Gmail grant never loads httpx for it
    from inboxsync.providers.gmail.oauth import GoogleConfig

HandlerFactory = Callable[[ImapWriter], Handler]

#: Full passes running at once in one process. A pass is a burst of database statements (tens at a
#: first sync); a thousand grants starting together queued for 30 pooled connections for longer than
#: the pool's 30 s timeout. New mail seen in IDLE does not wait for this gate.
PASS_CONCURRENCY = 32


@dataclass
class SyncDeps:
    db: Database
    blobs: BlobStore
    sealer: Sealer
    parser: Parser = field(default_factory=Parser)
    poll_interval: float = 60.0  # seconds between full passes over every folder
    legacy_poll: float = 10.0  # how often INBOX is polled on a server without IDLE
    backoff_base: float = 1.0  # first retry delay after a transient failure
    action_poll: float = 10.0  # how often a worker looks for actions written by another process
    # True under a Supervisor, which looks for the actions of every grant it runs in one query each
    # action_poll and wakes the grants that have some; False: each grant looks for its own.
    actions_watched: bool = False
    # Shared by every grant of the process (dataclasses.replace keeps the same object).
    pass_gate: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(PASS_CONCURRENCY)
    )
    extra_handlers: dict[str, HandlerFactory] = field(default_factory=dict)

    def handlers_for(self, writer: ImapWriter) -> dict[str, Handler]:
        """The action handlers of an IMAP grant: the writer's kinds plus any registered (sending)."""
        handlers: dict[str, Handler] = {
            kind: writer.apply
            for kind in (
                "update_message",
                "delete_message",
                "create_folder",
                "rename_folder",
                "delete_folder",
            )
        }
        from inboxsync.actions.outgoing import outgoing_handlers  # SMTP only when writing back

        handlers.update(outgoing_handlers(writer, self.blobs, self.sealer))  # send, drafts
        for kind, factory in self.extra_handlers.items():
            handlers[kind] = factory(writer)
        return handlers

    google: GoogleConfig | None = None  # Gmail's endpoints; None: from the environment
