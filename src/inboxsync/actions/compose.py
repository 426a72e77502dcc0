"""From what the API received to the bytes we send: a Nylas send/draft body, or raw MIME.

Pure (no I/O). One build gives both copies: ``raw`` keeps Bcc (it is what the Sent and Drafts
folders hold, and the blob the message row points to); ``smtp_data`` is the same bytes with the
Bcc field cut out, so every part of what the recipients get is byte-identical to the Sent copy.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses
from typing import Any

from inboxsync.errors import InvalidRequest
from inboxsync.mime.build import (
    OutgoingAttachment,
    OutgoingMessage,
    build,
    envelope_recipients,
    make_message_id,
)
from inboxsync.mime.dates import first_id, message_ids
from inboxsync.mime.types import Address, Header

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_URLSAFE = str.maketrans("-_", "+/")  # base64url is accepted too


@dataclass(frozen=True)
class Composed:
    raw: bytes  # the stored copy, with Bcc
    smtp_data: bytes  # what goes to the SMTP server
    mail_from: str
    recipients: tuple[str, ...]
    message_id: str


@dataclass(frozen=True)
class ReplyTo:
    """The message a reply answers: its Message-ID and References."""

    message_id: str | None
    references: tuple[str, ...] = ()


def _addresses(value: Any, what: str) -> tuple[Address, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequest(f"{what} must be a list of {{email, name}}")
    out = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("email"), str):
            raise InvalidRequest(f"{what}: each entry needs an email")
        name = item.get("name") or ""
        out.append(Address(name=str(name), email=item["email"].strip()))
    return tuple(out)


def attachment_from_json(item: Any) -> OutgoingAttachment:
    """A JSON attachment ``{filename, content_type, content: base64, content_id?, is_inline?}``."""
    if not isinstance(item, Mapping):
        raise InvalidRequest("each attachment must be an object")
    content = item.get("content")
    if not isinstance(content, str):
        raise InvalidRequest("attachment content must be a base64 string")
    try:
        clean = "".join(content.split()).translate(_URLSAFE).rstrip("=")
        data = base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"attachment content is not base64: {exc}") from exc
    return attachment(item, data)


def attachment(item: Mapping[str, Any], data: bytes) -> OutgoingAttachment:
    inline = bool(item.get("is_inline")) or item.get("content_disposition") == "inline"
    cid = item.get("content_id")
    return OutgoingAttachment(
        filename=str(item.get("filename") or "attachment"),
        content_type=str(item.get("content_type") or "application/octet-stream"),
        data=data,
        content_id=str(cid) if cid else None,
        inline=inline,
    )


def compose(
    body: Mapping[str, Any],
    files: Sequence[OutgoingAttachment],
    *,
    sender: Address,
    reply: ReplyTo | None = None,
    message_id: str | None = None,
) -> Composed:
    """A Nylas send/draft body (already JSON-decoded) and its files -> both copies."""
    from_ = _addresses(body.get("from"), "from")
    headers = body.get("custom_headers") or []
    if not isinstance(headers, list) or not all(
        isinstance(h, Mapping) and isinstance(h.get("name"), str) for h in headers
    ):
        raise InvalidRequest("custom_headers must be a list of {name, value}")
    text = body.get("body")
    if text is not None and not isinstance(text, str):
        raise InvalidRequest("body must be a string")
    plain = bool(body.get("is_plaintext"))
    subject = body.get("subject") or ""
    if not isinstance(subject, str):
        raise InvalidRequest("subject must be a string")
    domain = (from_[0] if from_ else sender).email.rpartition("@")[2]
    message = OutgoingMessage(
        from_=from_[0] if from_ else sender,
        to=_addresses(body.get("to"), "to"),
        cc=_addresses(body.get("cc"), "cc"),
        bcc=_addresses(body.get("bcc"), "bcc"),
        reply_to=_addresses(body.get("reply_to"), "reply_to"),
        subject=subject,
        text=(text or "") if plain else None,
        html=None if plain else (text or ""),
        attachments=tuple(files),
        in_reply_to=reply.message_id if reply else None,
        references=reply.references if reply else (),
        headers=tuple(Header(str(h["name"]), str(h.get("value") or "")) for h in headers),
        message_id=message_id or make_message_id(domain),
    )
    raw = build(message, include_bcc=True)
    return Composed(
        raw=raw,
        smtp_data=strip_bcc(raw),
        mail_from=message.from_.email,
        recipients=tuple(envelope_recipients(message)),
        message_id=message.message_id or "",
    )


def from_raw_mime(raw: bytes, *, sender: Address) -> Composed:
    """A message the caller built (``?type=mime``): sent as given, with a Message-ID and a Date
    added when missing; the envelope comes from its From/To/Cc/Bcc."""
    if not raw.strip():
        raise InvalidRequest("the mime part is empty")
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
    added = b""
    message_id = first_id(str(head.get("Message-ID") or ""))
    if message_id is None:
        message_id = make_message_id(sender.email.rpartition("@")[2])
        added += b"Message-ID: " + message_id.encode() + b"\r\n"
    if head.get("Date") is None:
        added += b"Date: " + format_datetime(datetime.now(UTC)).encode() + b"\r\n"
    raw = added + raw
    senders = getaddresses([str(v) for v in head.get_all("From") or []])
    recipients: dict[str, None] = {}
    for field in ("To", "Cc", "Bcc"):
        for _, email in getaddresses([str(v) for v in head.get_all(field) or []]):
            if email:
                recipients.setdefault(email, None)
    if not recipients:
        raise InvalidRequest("the message names no recipient (To, Cc or Bcc)")
    mail_from = next((e for _, e in senders if e), sender.email)
    return Composed(raw, strip_bcc(raw), mail_from, tuple(recipients), message_id)


def strip_bcc(raw: bytes) -> bytes:
    """The message without its Bcc field (and the field's continuation lines)."""
    end = _HEADER_END.search(raw)
    head, rest = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    lines = head.split(b"\n")
    kept: list[bytes] = []
    skipping = False
    for line in lines:
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = line[:4].lower() == b"bcc:"
        if not skipping:
            kept.append(line)
    return b"\n".join(kept) + rest


def reply_of(message_id_header: str | None, references: Sequence[str]) -> ReplyTo:
    refs = tuple(r for value in references for r in message_ids(value))
    return ReplyTo(first_id(message_id_header), refs)
