"""Building messages for sending: ``OutgoingMessage`` → RFC 5322 bytes with CRLF line ends.

Uses ``email.message.EmailMessage`` with ``policy.SMTP``: RFC 2047 headers, quoted-printable or base64
bodies as needed, RFC 2231 filenames. Layout: ``mixed(alternative(text, related(html, inline…)), files…)``,
each level only when needed. A text part is derived from the HTML when only HTML is given.
The Message-ID is generated here (``<uuid@domain-of-sender>``), never through a DNS lookup.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as EmailAddress
from email.message import EmailMessage
from email.utils import format_datetime

from inboxsync.errors import InvalidRequest
from inboxsync.mime.body import html_to_text
from inboxsync.mime.dates import first_id, message_ids
from inboxsync.mime.types import Address, Header

_RESERVED = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "in-reply-to"}
    | {"references", "mime-version", "content-type", "content-transfer-encoding", "sender"}
)


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    """A file to attach; ``inline`` with a ``content_id`` makes it referable as ``cid:`` from the HTML."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What the API hands over for sending. ``html`` or ``text`` (or both) is the body."""

    from_: Address
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    subject: str = ""
    html: str | None = None
    text: str | None = None
    attachments: tuple[OutgoingAttachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: tuple[Header, ...] = ()
    message_id: str | None = None
    date: datetime | None = None


def make_message_id(domain: str) -> str:
    """A fresh, globally unique ``<…@domain>``."""
    clean = domain.strip().strip("[]") or "inboxsync.invalid"
    return f"<{uuid.uuid4().hex}@{_ascii_domain(clean)}>"


def envelope_recipients(message: OutgoingMessage) -> list[str]:
    """RCPT TO addresses: to + cc + bcc, deduplicated, in order."""
    seen: dict[str, None] = {}
    for address in (*message.to, *message.cc, *message.bcc):
        if address.email:
            seen.setdefault(address.email, None)
    return list(seen)


def _ascii_domain(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidRequest(f"invalid domain {domain!r}") from exc


def _check(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise InvalidRequest(f"{what} must not contain line breaks")
    return value


def _address(address: Address) -> EmailAddress:
    local, at, domain = address.email.rpartition("@")
    if not at or not local or not domain:
        raise InvalidRequest(f"invalid email address {address.email!r}")
    _check(address.name, "a display name")
    _check(address.email, "an email address")
    try:
        return EmailAddress(display_name=address.name, username=local, domain=_ascii_domain(domain))
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"invalid email address {address.email!r}") from exc


def _content_id(value: str) -> str:
    return f"<{_check(value, 'a content id').strip().strip('<>')}>"


def build(message: OutgoingMessage, *, include_bcc: bool = False) -> bytes:
    """The message as bytes ready for SMTP (CRLF). ``include_bcc`` keeps Bcc (for the Sent copy).

    Raises ``InvalidRequest`` for bad addresses, header injection or a reserved custom header.
    """
    if message.html is None and message.text is None:
        raise InvalidRequest("a message needs an html or a text body")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(message.from_)
    for name, addresses in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if addresses:
            msg[name] = [_address(a) for a in addresses]
    if include_bcc and message.bcc:
        msg["Bcc"] = [_address(a) for a in message.bcc]
    msg["Subject"] = _check(message.subject, "the subject")
    msg["Date"] = format_datetime((message.date or datetime.now(UTC)).astimezone(UTC))
    domain = message.from_.email.rpartition("@")[2]
    msg["Message-ID"] = first_id(message.message_id) or make_message_id(domain)
    _reply_headers(msg, message)
    for header in message.headers:
        if header.name.lower() in _RESERVED or not header.name.isascii() or ":" in header.name:
            raise InvalidRequest(f"header {header.name!r} cannot be set")
        msg[_check(header.name, "a header name")] = _check(header.value, "a header value")
    _body(msg, message)
    return msg.as_bytes(policy=policy.SMTP)


def _reply_headers(msg: EmailMessage, message: OutgoingMessage) -> None:
    parent = first_id(_check(message.in_reply_to or "", "In-Reply-To"))
    references = list(message_ids(_check(" ".join(message.references), "References")))
    if parent:
        msg["In-Reply-To"] = parent
        if parent not in references:
            references.append(parent)
    if references:
        msg["References"] = " ".join(references)


def _body(msg: EmailMessage, message: OutgoingMessage) -> None:
    text = message.text if message.text is not None else html_to_text(message.html or "")
    msg.set_content(text, subtype="plain", cte=_cte(text))
    inline = [a for a in message.attachments if a.inline and a.content_id]
    files = [a for a in message.attachments if not (a.inline and a.content_id)]
    if message.html is not None:
        msg.add_alternative(message.html, subtype="html", cte=_cte(message.html))
        html_part = msg.get_body(preferencelist=("html",))
        if html_part is not None:
            for item in inline:
                maintype, subtype = _split_type(item.content_type)
                html_part.add_related(
                    item.data,
                    maintype=maintype,
                    subtype=subtype,
                    cid=_content_id(item.content_id or ""),
                    filename=_check(item.filename, "a filename") or None,
                    disposition="inline",
                )
    else:
        files = list(message.attachments)
    for item in files:
        maintype, subtype = _split_type(item.content_type)
        msg.add_attachment(
            item.data,
            maintype=maintype,
            subtype=subtype,
            filename=_check(item.filename, "a filename") or "attachment",
            disposition="inline" if item.inline else "attachment",
            cid=_content_id(item.content_id) if item.content_id else None,
        )


def _cte(text: str) -> str:
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return "7bit"
    return "quoted-printable"


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, slash, subtype = content_type.strip().lower().partition("/")
    if not slash or not maintype or not subtype or "\n" in content_type or "\r" in content_type:
        return "application", "octet-stream"
    return maintype, subtype
