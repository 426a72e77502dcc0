"""Rows -> Nylas v3 objects as plain dicts: the JSON the API serves and webhooks carry.

A neutral module at store level so that ``api`` and ``events`` both build objects the same way.
Plain dicts keep list pages cheap; :mod:`inboxsync.api.views.schemas` documents the same shapes.
Every object carries ``id``, ``grant_id`` and ``object`` whatever ``select`` asks for (nylas-v3.md §4).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

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
