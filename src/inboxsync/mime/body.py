"""Choosing the displayed body, HTML ↔ text, the snippet, and attachment descriptions.

Rules: ``multipart/alternative`` shows its last renderable child, HTML preferred over text;
``multipart/related`` shows its root (``start`` or first child) and keeps the other parts as inline
resources; ``multipart/signed`` shows its first child; other multiparts show every inline text part in
order. Every leaf that is not shown (and is not a discarded alternative) is an attachment.
Only the shown parts are decoded; attachments cost their headers and a size count.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from inboxsync.mime.charsets import decode_bytes
from inboxsync.mime.structure import Part, decode_body, decoded_size
from inboxsync.mime.types import AttachmentInfo

MAX_BODY = 2 * 1024 * 1024
"""Characters of ``body`` kept (HTML); beyond, the body is cut and the cut reported."""
MAX_TEXT = 64 * 1024
"""Characters of the plain-text rendition kept for search."""
SNIPPET_LENGTH = 200

_TEXT_BODY = frozenset({"text/plain", "text/html"})
_CALENDAR = frozenset({"text/calendar", "application/ics"})


@dataclass(slots=True)
class Plan:
    """Which leaves are shown and which are attachments."""

    shown: list[Part] = field(default_factory=list)
    attachments: list[Part] = field(default_factory=list)


def plan(root: Part) -> Plan:
    result = Plan()
    _visit(root, result)
    return result


def _is_shown_text(part: Part) -> bool:
    if part.content_type not in _TEXT_BODY:
        return False
    disposition, params = part.disposition()
    if disposition == "attachment":
        return False
    return disposition == "inline" or not (params.get("filename") or part.params.get("name"))


def _score(part: Part) -> int:
    """2 for HTML (or a multipart holding shown HTML), 1 for plain text, 0 for nothing to show."""
    if part.is_multipart:
        return max((_score(child) for child in part.children[:50]), default=0)
    if not _is_shown_text(part):
        return 0
    return 2 if part.content_type == "text/html" else 1


def _visit(part: Part, result: Plan) -> None:
    if not part.is_multipart:
        (result.shown if _is_shown_text(part) else result.attachments).append(part)
        return
    children = part.children
    kind = part.content_type
    if kind == "multipart/alternative":
        scores = [_score(child) for child in children]
        best = max(scores)
        chosen = max(i for i, s in enumerate(scores) if s == best) if best else -1
        for index, child in enumerate(children):
            if index == chosen:
                _visit(child, result)
            else:
                result.attachments.extend(
                    leaf
                    for leaf in child.walk()
                    if not leaf.is_multipart and not _is_shown_text(leaf)
                )
        return
    if kind == "multipart/related":
        start = part.params.get("start", "").strip("<> ")
        root = (
            next((c for c in children if _content_id(c) == start), children[0])
            if start
            else children[0]
        )
        _visit(root, result)
        for child in children:
            if child is not root:
                result.attachments.extend(leaf for leaf in child.walk() if not leaf.is_multipart)
        return
    if kind in {"multipart/signed", "multipart/encrypted"}:
        _visit(children[0], result)
        for child in children[1:]:
            result.attachments.extend(leaf for leaf in child.walk() if not leaf.is_multipart)
        return
    for child in children:
        _visit(child, result)


def _content_id(part: Part) -> str | None:
    value = part.headers.get("content-id")
    if not value:
        return None
    cleaned = value.strip().strip("<>").strip()
    return cleaned or None


def decode_text(raw: bytes, part: Part, errors: list[str], limit: int = MAX_BODY) -> str:
    """The decoded text of a shown part, at most ``limit`` characters."""
    data = decode_body(raw, part, limit=limit * 4)
    text = decode_bytes(data, part.params.get("charset"), errors)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > limit:
        errors.append(f"body: part {part.part_id} longer than {limit} characters; cut")
        text = text[:limit]
    return text


def _drop_between(
    text: str, lowered: str, opener: str, closer: str, to_end: bool
) -> tuple[str, str]:
    """Remove every ``opener…closer`` span (case-insensitive, linear).

    An unclosed span runs to the end when ``to_end`` (as browsers treat scripts); otherwise only
    the opener goes (an unclosed comment in spam would hide the whole text).
    """
    if opener not in lowered:
        return text, lowered
    kept: list[str] = []
    kept_lower: list[str] = []
    pos = 0
    while True:
        found = lowered.find(opener, pos)
        if found < 0:
            break
        kept.append(text[pos:found])
        kept_lower.append(lowered[pos:found])
        close = lowered.find(closer, found + len(opener))
        if close >= 0:
            gt = lowered.find(">", close, close + 64)
            close = gt + 1 - len(closer) if gt >= 0 else close
        if close < 0:  # no closer anywhere after: later openers have none either
            pos = len(text) if to_end else found + len(opener)
            break
        pos = close + len(closer)
    kept.append(text[pos:])
    kept_lower.append(lowered[pos:])
    return "".join(kept), "".join(kept_lower)


_BLOCK = re.compile(
    r"<(?:br|p|/p|div|/div|tr|/tr|li|h[1-6]|/h[1-6]|hr|/table|blockquote)\b[^<>]*>", re.I
)
_HIDDEN = (
    ("<!--", "-->", False),
    ("<script", "</script", True),
    ("<style", "</style", False),
    ("<title", "</title", False),
)
_TAG = re.compile(r"<[^<>]*>")
_BLANKS = re.compile(r"[ \t\r\f\v\xa0]+")
_LINES = re.compile(r"\n\s*\n\s*(?:\n\s*)+")


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document: scripts, styles, head and comments dropped, tags removed."""
    markup = markup[: MAX_TEXT * 16]
    lowered = markup.lower()
    for opener, closer, to_end in _HIDDEN:
        markup, lowered = _drop_between(markup, lowered, opener, closer, to_end)
    markup = _BLOCK.sub("\n", markup)
    markup = _TAG.sub("", markup)
    text = html.unescape(markup)
    text = _BLANKS.sub(" ", text)
    text = _LINES.sub("\n\n", text)
    return text.strip()


def text_to_html(text: str) -> str:
    """Minimal HTML showing ``text`` as written."""
    return f'<div style="white-space: pre-wrap">{html.escape(text, quote=False)}</div>'


def snippet(text: str, length: int = SNIPPET_LENGTH) -> str:
    """The first ``length`` characters of visible text, whitespace collapsed."""
    window = length * 4
    while True:
        collapsed = " ".join(text[:window].split())
        if len(collapsed) > length or window >= len(text):
            break
        window *= 4
    if len(collapsed) <= length:
        return collapsed
    cut = collapsed.rfind(" ", length - 30, length)
    return collapsed[: cut if cut > 0 else length].rstrip()


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) of the same quote depth."""
    out: list[str] = []
    current: str | None = None
    depth = 0
    for line in text.split("\n"):
        quote = len(line) - len(line.lstrip(">"))
        body = line[quote:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        if current is not None and quote == depth:
            current += body
        else:
            if current is not None:
                out.append(">" * depth + (" " if depth else "") + current)
            current, depth = body, quote
        if not body.endswith(" ") or body == "-- ":
            out.append(">" * depth + (" " if depth else "") + current)
            current = None
        elif delsp:
            current = current[:-1]
    if current is not None:
        out.append(">" * depth + (" " if depth else "") + current)
    return "\n".join(out)


def render(raw: bytes, shown: list[Part], errors: list[str]) -> tuple[str, str]:
    """(body HTML, plain text) of the shown parts, each bounded."""
    pieces: list[tuple[bool, str]] = []
    budget = MAX_BODY
    for part in shown:
        if budget <= 0:
            errors.append(f"body: longer than {MAX_BODY} characters; cut")
            break
        content = decode_text(raw, part, errors, limit=budget)
        if part.content_type == "text/plain" and part.params.get("format", "").lower() == "flowed":
            content = unflow(content, part.params.get("delsp", "").lower() == "yes")
        budget -= len(content)
        pieces.append((part.content_type == "text/html", content))
    if not pieces:
        return "", ""
    if any(is_html for is_html, _ in pieces):
        body = "\n".join(
            content if is_html else text_to_html(content) for is_html, content in pieces
        )
        text = "\n\n".join(
            html_to_text(content) if is_html else content for is_html, content in pieces
        )
    else:
        text = "\n\n".join(content for _, content in pieces)
        body = text_to_html(text)
    return body[:MAX_BODY], text[:MAX_TEXT]


def describe(raw: bytes, part: Part) -> AttachmentInfo:
    """The attachment facts of one leaf, from its headers and a size count."""
    disposition, params = part.disposition()
    filename = params.get("filename") or part.params.get("name") or ""
    filename = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    content_id = _content_id(part)
    return AttachmentInfo(
        part_id=part.part_id,
        filename=filename,
        content_type=part.content_type,
        size=decoded_size(raw, part),
        content_id=content_id,
        disposition=disposition,
        is_inline=disposition == "inline" or (disposition == "" and content_id is not None),
        is_calendar=part.content_type in _CALENDAR,
    )
