"""Plain values the sync layer hands to the store (so that the store never imports a provider or MIME)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Participant = dict[str, str]  # {"name": ..., "email": ...}


@dataclass(frozen=True, slots=True)
class NewAttachment:
    part_id: str
    filename: str | None
    content_type: str
    size: int
    content_id: str | None
    content_disposition: str | None
    is_inline: bool


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as parsed from its raw bytes (already stored in the blob store under ``sha256``)."""

    sha256: str
    size: int
    received_at: int
    date: int
    subject: str | None = None
    message_id_header: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_: tuple[Participant, ...] = ()
    to: tuple[Participant, ...] = ()
    cc: tuple[Participant, ...] = ()
    bcc: tuple[Participant, ...] = ()
    reply_to: tuple[Participant, ...] = ()
    snippet: str = ""
    body: str = ""
    search_text: str = ""
    search_fields: tuple[str, ...] = ()  # normalised full-text fields (store.fts.FIELDS order)
    has_attachments: bool = False
    attachments: tuple[NewAttachment, ...] = ()
    parse_errors: tuple[str, ...] = ()
    provider_id: str | None = None
    provider_thread_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a message sits: a UID in a folder, with its flags (Gmail: uid 0, one row a label)."""

    uid: int
    flags: tuple[str, ...] = ()
    modseq: int | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    created: tuple[str, ...]  # ids of new messages
    placed: tuple[str, ...]  # ids of known messages that gained this folder
    thread_ids: tuple[str, ...]


def flag_state(flags: tuple[str, ...] | list[str]) -> tuple[bool, bool, bool]:
    """(unread, starred, draft) from IMAP system flags (case-insensitive, as IMAP says)."""
    lowered = {f.lower() for f in flags}
    return "\\seen" not in lowered, "\\flagged" in lowered, "\\draft" in lowered
