"""The values the MIME layer returns: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: ``name`` is the decoded display name ("" when none), ``email`` may be "" when garbage."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Header:
    """One header field as it appears in the message (unfolded, RFC 2047 left as is)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """A MIME part served as an attachment; its bytes come back through ``extract_part(raw, part_id)``.

    ``part_id`` is the IMAP-style part path ("1", "2.1"); ``size`` counts decoded bytes;
    ``disposition`` is "attachment", "inline" or "" (header absent); ``content_id`` has no angle brackets.
    """

    part_id: str
    filename: str
    content_type: str
    size: int
    content_id: str | None
    disposition: str
    is_inline: bool
    is_calendar: bool


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """Everything the API serves about one message, parsed from its raw RFC 822 bytes.

    ``body`` is always HTML (a text-only message is wrapped in minimal HTML) and bounded; ``text`` is a
    bounded plain rendition for search; ``snippet`` the first ~200 characters of visible text.
    ``date`` is tz-aware UTC; ``date_from_header`` is false when it came from a fallback.
    ``parse_errors`` lists what was wrong; an empty tuple means the message parsed cleanly.
    """

    raw: bytes = field(repr=False)
    subject: str
    from_: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    sender: tuple[Address, ...]
    date: datetime
    date_from_header: bool
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: tuple[Header, ...] = field(repr=False)
    body: str = field(repr=False)
    text: str = field(repr=False)
    snippet: str
    attachments: tuple[AttachmentInfo, ...]
    has_attachments: bool
    has_calendar: bool
    size: int
    parse_errors: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for item in self.headers:
            if item.name.lower() == wanted:
                return item.value
        return None
