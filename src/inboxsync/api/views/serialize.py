"""Rows -> Nylas v3 objects as plain dicts, and JSON bytes without FastAPI's encoder.

Plain dicts keep list pages cheap; :mod:`inboxsync.api.views.schemas` documents the same shapes.
Every object carries ``id``, ``grant_id`` and ``object`` whatever ``select`` asks for (nylas-v3.md §4).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from inboxsync.api.envelope import request_id_of
from inboxsync.store.listing import FolderCounts, ThreadMembers
from inboxsync.store.models import Folder, Grant, Thread

ALWAYS = frozenset({"id", "grant_id", "object"})
# Keys the SDK's from_dict needs on a single object (nylas-v3.md §3): kept whatever ``select`` says.
THREAD_REQUIRED = ALWAYS | {
    "has_drafts",
    "starred",
    "unread",
    "message_ids",
    "folders",
    "latest_draft_or_message",
}
FOLDER_REQUIRED = ALWAYS | {"name"}
SECRET_WORDS = ("password", "secret", "token", "credential")


class JsonBytes(JSONResponse):
    """JSON already encoded to bytes (a JSONResponse subclass so that OpenAPI documents JSON)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def render(payload: dict[str, Any], status: int = 200) -> JsonBytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return JsonBytes(body, status_code=status)


def one(request: Request, data: dict[str, Any], status: int = 200) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data}, status)


def many(request: Request, data: list[dict[str, Any]], next_cursor: str | None) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": data, "next_cursor": next_cursor})


def deleted(request: Request) -> JsonBytes:
    return render({"request_id": request_id_of(request), "data": {"status": "success"}})


def pick(
    obj: dict[str, Any], fields: frozenset[str] | None, always: frozenset[str] = ALWAYS
) -> dict[str, Any]:
    if fields is None:
        return obj
    return {k: v for k, v in obj.items() if k in fields or k in always}


def attachment(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "grant_id": row.grant_id,
        "message_id": row.message_id,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "content_id": row.content_id,
        "content_disposition": row.content_disposition,
        "is_inline": row.is_inline,
    }


def message(row: Any, folders: list[str], attachments: Iterable[Any]) -> dict[str, Any]:
    return {
        "object": "message",
        "id": row.id,
        "grant_id": row.grant_id,
        "thread_id": row.thread_id,
        "subject": row.subject,
        "from": row.from_,
        "to": row.to,
        "cc": row.cc,
        "bcc": row.bcc,
        "reply_to": row.reply_to,
        "date": row.date,
        "created_at": row.date,
        "unread": row.unread,
        "starred": row.starred,
        "snippet": row.snippet,
        "body": row.body,
        "folders": folders,
        "attachments": [attachment(a) for a in attachments],
        "metadata": row.metadata_ or {},
    }


def raw_mime(row: Any, raw: bytes) -> dict[str, Any]:
    """``fields=raw_mime``: the ids and the raw message, base64url (padded, byte-identical)."""
    return {
        "object": "message",
        "id": row.id,
        "grant_id": row.grant_id,
        "raw_mime": base64.urlsafe_b64encode(raw).decode("ascii"),
    }


def thread(t: Thread, members: ThreadMembers, latest: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "object": "thread",
        "id": t.id,
        "grant_id": t.grant_id,
        "subject": t.subject,
        "snippet": t.snippet,
        "participants": t.participants,
        "message_ids": members.message_ids,
        "draft_ids": members.draft_ids,
        "folders": members.folders,
        "unread": t.unread,
        "starred": t.starred,
        "has_attachments": t.has_attachments,
        "has_drafts": t.has_drafts,
        "earliest_message_date": t.earliest_message_date,
        "latest_message_received_date": t.latest_message_received_date,
        "latest_message_sent_date": t.latest_message_sent_date,
        "latest_draft_or_message": latest,
    }


def folder(f: Folder, counts: FolderCounts | None) -> dict[str, Any]:
    counts = counts or FolderCounts(0, 0, 0)
    return {
        "object": "folder",
        "id": f.id,
        "grant_id": f.grant_id,
        "name": f.name,
        "parent_id": f.parent_id,
        "background_color": f.background_color,
        "text_color": f.text_color,
        "system_folder": f.role is not None,
        "attributes": list(f.attributes or []),
        "total_count": counts.total,
        "unread_count": counts.unread,
        "child_count": counts.children,
    }


def public_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Grant settings without anything that looks like a secret."""
    return {
        k: v for k, v in (settings or {}).items() if not any(w in k.lower() for w in SECRET_WORDS)
    }


def grant(g: Grant) -> dict[str, Any]:
    return {
        "object": "grant",
        "id": g.id,
        "provider": g.provider,
        "grant_status": g.grant_status,
        "email": g.email,
        "scope": [],
        "settings": public_settings(g.settings),
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    }
