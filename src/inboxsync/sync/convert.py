"""ParsedMessage (mime) -> NewMessage (store): the one place where the two layers meet."""

from __future__ import annotations

from datetime import datetime

from inboxsync.mime import Address, ParsedMessage
from inboxsync.store import fts
from inboxsync.store.records import NewAttachment, NewMessage

SEARCH_TEXT_LIMIT = 64 * 1024


def _clean(value: str) -> str:
    """Text the database can hold: PostgreSQL refuses NUL in text and JSON (real mail has it)."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _people(addresses: tuple[Address, ...]) -> tuple[dict[str, str], ...]:
    return tuple({"name": _clean(a.name), "email": _clean(a.email)} for a in addresses)


def to_new_message(
    parsed: ParsedMessage,
    sha256: str,
    *,
    received_at: datetime | None = None,
    provider_id: str | None = None,
    provider_thread_id: str | None = None,
) -> NewMessage:
    date = int(parsed.date.timestamp())
    attachments = tuple(
        NewAttachment(
            part_id=a.part_id,
            filename=_clean(a.filename) or None,
            content_type=_clean(a.content_type),
            size=a.size,
            content_id=_clean(a.content_id) if a.content_id else None,
            content_disposition=a.disposition or None,
            is_inline=a.is_inline,
        )
        for a in parsed.attachments
    )
    from_, to, cc, bcc = (
        _people(parsed.from_),
        _people(parsed.to),
        _people(parsed.cc),
        _people(parsed.bcc),
    )
    text = _clean(parsed.text[:SEARCH_TEXT_LIMIT])
    return NewMessage(
        sha256=sha256,
        size=parsed.size,
        received_at=int(received_at.timestamp()) if received_at else date,
        date=date,
        subject=_clean(parsed.subject),
        message_id_header=_clean(parsed.message_id) if parsed.message_id else None,
        in_reply_to=_clean(parsed.in_reply_to) if parsed.in_reply_to else None,
        references=tuple(_clean(r) for r in parsed.references),
        from_=from_,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=_people(parsed.reply_to),
        snippet=_clean(parsed.snippet),
        body=_clean(parsed.body),
        search_text=text,
        search_fields=fts.fields(
            subject=_clean(parsed.subject),
            from_=from_,
            to=to,
            cc=cc,
            bcc=bcc,
            filenames=(a.filename for a in attachments),
            body=text,
        ),
        has_attachments=parsed.has_attachments,
        attachments=attachments,
        parse_errors=tuple(_clean(e) for e in parsed.parse_errors),
        provider_id=provider_id,
        provider_thread_id=provider_thread_id,
    )
