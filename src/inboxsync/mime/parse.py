"""``parse(raw)``: raw RFC 822 bytes → ``ParsedMessage``. Never raises.

Each stage (headers, addresses, date, ids, body, attachments) runs on its own: an exception inside one
becomes a ``parse_errors`` entry and the other stages still fill their fields. The raw bytes are kept
in the result whatever happens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from inboxsync.mime.addresses import parse_addresses
from inboxsync.mime.body import Plan, describe, plan, render, snippet
from inboxsync.mime.dates import first_id, message_ids, parse_date, received_date
from inboxsync.mime.headers import HeaderBlock, decode_words
from inboxsync.mime.structure import Part, parse_tree
from inboxsync.mime.types import Address, AttachmentInfo, Header, ParsedMessage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ERRORS = 50
"""parse_errors kept per message (the first ones)."""

_T = TypeVar("_T")
_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:+-]+)""", re.I)


@dataclass(slots=True)
class _Draft:
    errors: list[str] = field(default_factory=list)
    headers: HeaderBlock = field(default_factory=HeaderBlock)
    root: Part | None = None


def _stage(draft: _Draft, name: str, default: _T, run: Callable[[], _T]) -> _T:
    try:
        return run()
    except Exception as exc:  # never raise: a failed stage is reported and left at its default
        draft.errors.append(f"internal: {name} failed: {type(exc).__name__}: {exc!s:.120}")
        return default


def _charset_hint(raw: bytes) -> Callable[[], str | None]:
    found: list[str | None] = []

    def hint() -> str | None:
        if not found:
            match = _CHARSET.search(raw, 0, 256 * 1024)
            found.append(match.group(1).decode("ascii") if match else None)
        return found[0]

    return hint


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse(raw: bytes, *, internal_date: datetime | None = None) -> ParsedMessage:
    """Parse one message. ``internal_date`` (the server's arrival time) backs up a missing Date."""
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    draft = _Draft()
    errors = draft.errors

    def structure() -> None:
        draft.headers, draft.root = parse_tree(raw, errors, _charset_hint(raw))

    _stage(draft, "structure", None, structure)
    top = draft.headers

    def addresses(name: str) -> tuple[Address, ...]:
        return _stage(draft, name, (), lambda: parse_addresses(_joined(top, name), errors))

    subject = _stage(
        draft,
        "subject",
        "",
        lambda: " ".join(decode_words(top.get("subject") or "", errors).split()),
    )
    date, from_header = _stage(
        draft, "date", (EPOCH, False), lambda: _date(top, internal_date, errors)
    )
    layout = _stage(draft, "layout", Plan(), lambda: plan(draft.root) if draft.root else Plan())
    attachments: tuple[AttachmentInfo, ...] = _stage(
        draft, "attachments", (), lambda: _attachments(raw, layout.attachments)
    )
    body, text = _stage(draft, "body", ("", ""), lambda: render(raw, layout.shown, errors))
    snip = _stage(draft, "snippet", "", lambda: snippet(text))
    return ParsedMessage(
        raw=raw,
        subject=subject,
        from_=addresses("from"),
        to=addresses("to"),
        cc=addresses("cc"),
        bcc=addresses("bcc"),
        reply_to=addresses("reply-to"),
        sender=addresses("sender"),
        date=date,
        date_from_header=from_header,
        message_id=_stage(draft, "message-id", None, lambda: first_id(top.get("message-id"))),
        in_reply_to=_stage(draft, "in-reply-to", None, lambda: first_id(top.get("in-reply-to"))),
        references=_stage(draft, "references", (), lambda: message_ids(top.get("references"))),
        headers=tuple(Header(name, value) for name, value in top.fields),
        body=body,
        text=text,
        snippet=snip,
        attachments=attachments,
        has_attachments=any(not item.is_inline for item in attachments),
        has_calendar=any(item.is_calendar for item in attachments),
        size=len(raw),
        parse_errors=tuple(dict.fromkeys(errors[:MAX_ERRORS])),
    )


def _joined(top: HeaderBlock, name: str) -> str | None:
    values = top.get_all(name)
    return ", ".join(values) if values else None


def _date(
    top: HeaderBlock, internal_date: datetime | None, errors: list[str]
) -> tuple[datetime, bool]:
    value = top.get("date")
    found = parse_date(value)
    if found is not None:
        return found, True
    errors.append(f"date: unreadable {value!r:.60}" if value else "date: missing")
    if internal_date is not None:
        return _utc(internal_date), False
    received = received_date(top.get_all("received"))
    if received is not None:
        return received, False
    return EPOCH, False


def _attachments(raw: bytes, parts: list[Part]) -> tuple[AttachmentInfo, ...]:
    return tuple(describe(raw, part) for part in parts)
