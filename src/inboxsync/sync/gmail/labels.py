"""Gmail labels -> folders: roles for system labels, nesting and colours for user labels.

https://developers.google.com/gmail/api/guides/labels: system labels have fixed ids (INBOX, SENT,
DRAFT, TRASH, SPAM, STARRED, IMPORTANT, UNREAD, CHAT, CATEGORY_*); user labels have ids ``Label_<n>``,
a name in which ``/`` writes nesting, and an optional colour. A folder's ``path`` is the label id (stable
across renames), its ``name`` the label's full name, its ``parent_id`` the folder of the name's prefix.
UNREAD is a flag, not a folder; every message outside SPAM and TRASH also sits in a synthetic "all mail"
folder with role ``all``.
"""

from __future__ import annotations

from typing import Any

from inboxsync.store import folders as folder_repo
from inboxsync.store import gmail as store
from inboxsync.store.models import Folder
from inboxsync.sync.gmail.context import GmailContext

ROLES = {
    "INBOX": "inbox",
    "SENT": "sent",
    "DRAFT": "drafts",
    "TRASH": "trash",
    "SPAM": "spam",
    "STARRED": "starred",
    "IMPORTANT": "important",
    store.ALL_PATH: "all",
}
NAMES = {store.ALL_PATH: "All Mail"}


def wanted_folders(labels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """label id -> the folder fields it should have (parent given as a label id)."""
    by_name = {str(lab.get("name", "")): str(lab["id"]) for lab in labels}
    out: dict[str, dict[str, Any]] = {}
    for lab in [*labels, {"id": store.ALL_PATH, "name": NAMES[store.ALL_PATH], "type": "system"}]:
        lid = str(lab["id"])
        if lid in store.FLAG_LABELS:
            continue
        name = str(lab.get("name") or lid)
        parent = (
            by_name.get(name.rsplit("/", 1)[0])
            if "/" in name and lab.get("type") == "user"
            else None
        )
        color = lab.get("color") or {}
        out[lid] = {
            "name": name,
            "role": ROLES.get(lid),
            "parent_label": parent,
            "background_color": color.get("backgroundColor"),
            "text_color": color.get("textColor"),
            "attributes": [] if lab.get("type") == "user" else ["system"],
        }
    return out


async def sync_labels(ctx: GmailContext, labels: list[dict[str, Any]]) -> dict[str, str]:
    """Create, update and delete folders to match the labels; returns label id -> folder id."""
    wanted = wanted_folders(labels)
    async with ctx.db.transaction() as session:
        local = {
            store.label_id_of(f): f for f in await folder_repo.list_for_grant(session, ctx.grant_id)
        }
        pending = await store.pending_folder_creations(session, ctx.grant_id)
        for path, folder in local.items():
            if path not in wanted and folder.id not in pending:
                await folder_repo.remove(session, folder, self_email=ctx.email)
        rows: dict[str, Folder] = {}
        for lid, fields in wanted.items():
            found = local.get(lid)
            plain = {"path": lid, **{k: v for k, v in fields.items() if k != "parent_label"}}
            if found is None:
                folder = folder_repo.create(session, ctx.grant_id, delimiter="/", **plain)
            else:
                folder = found
                changed = [k for k, v in plain.items() if getattr(folder, k) != v]
                for key in changed:
                    setattr(folder, key, plain[key])
                if changed:
                    folder_repo.touch(session, folder, changed)
            if folder.cursor.get("label_id") != lid:
                folder.cursor = {**folder.cursor, "label_id": lid}
            rows[lid] = folder
        await session.flush()
        for lid, fields in wanted.items():
            parent = rows.get(fields["parent_label"]) if fields["parent_label"] else None
            parent_id = parent.id if parent is not None else None
            if rows[lid].parent_id != parent_id:
                rows[lid].parent_id = parent_id
                folder_repo.touch(session, rows[lid], ["parent_id"])
    ctx.folder_ids = {lid: folder.id for lid, folder in rows.items()}
    return ctx.folder_ids
