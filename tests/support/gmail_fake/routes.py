"""The Gmail API v1 methods of the fake: path -> (quota name, handler).

Each handler takes ``(fake, mailbox, params, body, content_type, *path_args)`` and returns the JSON
resource Google documents for that method (https://developers.google.com/gmail/api/reference/rest).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from inboxsync.providers.gmail import batch as batching
from tests.support.gmail_fake.mailbox import ApiError, Mailbox

Params = dict[str, list[str]]
Handler = Callable[..., dict[str, Any]]


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "parseError", "Parse Error") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalidArgument", "Invalid JSON payload")
    return value


def _one(params: Params, key: str, default: str = "") -> str:
    return params.get(key, [default])[-1]


def _page(params: Params, default: int) -> tuple[int, int]:
    try:
        size = min(500, max(1, int(_one(params, "maxResults", str(default)))))
        start = int(_one(params, "pageToken", "0") or 0)
    except ValueError as exc:
        raise ApiError(400, "invalidArgument", "Invalid pageToken or maxResults") from exc
    return start, size


def _raw(body: dict[str, Any]) -> bytes:
    from tests.support.gmail_fake.app import raw_of

    return raw_of(body)


def profile(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    return {
        "emailAddress": box.email,
        "messagesTotal": len(box.messages),
        "threadsTotal": len({m.thread_id for m in box.messages.values()}),
        "historyId": str(box.history_id),
    }


def list_messages(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str
) -> dict[str, Any]:
    start, size = _page(params, 100)
    found = box.list_ids(params.get("labelIds", []), _one(params, "includeSpamTrash") == "true")
    # The page token is an offset here; Google's is opaque (callers must not parse it).
    page = found[start : start + size]
    out: dict[str, Any] = {
        "messages": [{"id": m.id, "threadId": m.thread_id} for m in page],
        "resultSizeEstimate": len(found),
    }
    if start + size < len(found):
        out["nextPageToken"] = str(start + size)
    if not page:
        out.pop("messages")
    return out


def get_message(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, mid: str
) -> dict[str, Any]:
    fmt = _one(params, "format", "full")
    return box.get(mid).resource(fmt if fmt in ("raw", "minimal") else "metadata")


def modify(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, mid: str
) -> dict[str, Any]:
    data = _json(body)
    return box.modify(mid, data.get("addLabelIds", []), data.get("removeLabelIds", [])).resource(
        "minimal"
    )


def batch_modify(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str
) -> dict[str, Any]:
    data = _json(body)
    ids = data.get("ids", [])
    if len(ids) > 1000:
        raise ApiError(400, "invalidArgument", "Too many ids")
    box._check_labels([*data.get("addLabelIds", []), *data.get("removeLabelIds", [])])
    for mid in ids:
        if mid in box.messages:  # batchModify ignores ids it does not know
            box.modify(mid, data.get("addLabelIds", []), data.get("removeLabelIds", []))
    return {}


def trash(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, mid: str
) -> dict[str, Any]:
    return box.trash(mid).resource("minimal")


def untrash(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, mid: str
) -> dict[str, Any]:
    return box.untrash(mid).resource("minimal")


def delete(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, mid: str
) -> dict[str, Any]:
    box.delete(mid)
    return {}


def send(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    data = _json(body)
    raw = _raw(data)
    if len(raw) > 5 * 1024 * 1024:
        raise ApiError(413, "uploadTooLarge", "Request too large; use an upload")
    return box.insert(raw, ["SENT"], thread_id=data.get("threadId")).resource("minimal")


def upload_send(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    kind = _one(params, "uploadType")
    if len(body) > 35 * 1024 * 1024 + 64 * 1024:
        raise ApiError(413, "uploadTooLarge", "Message too large")
    meta: dict[str, Any] = {}
    if kind == "media":
        raw = body
    elif kind == "multipart":
        parts = batching.split_parts(ctype, body)
        if len(parts) != 2:
            raise ApiError(400, "badRequest", "multipart upload needs metadata and media")
        meta, raw = _json(parts[0][1]), parts[1][1]
    else:
        raise ApiError(400, "badRequest", "uploadType must be media or multipart")
    return box.insert(raw, ["SENT"], thread_id=meta.get("threadId")).resource("minimal")


def history(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    try:
        start_id = int(_one(params, "startHistoryId"))
    except ValueError as exc:
        raise ApiError(400, "invalidArgument", "Invalid startHistoryId") from exc
    start, size = _page(params, 100)
    records = box.list_history(start_id)
    out: dict[str, Any] = {"historyId": str(box.history_id)}
    if records[start : start + size]:
        out["history"] = records[start : start + size]
    if start + size < len(records):
        out["nextPageToken"] = str(start + size)
    return out


def labels(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    return {"labels": list(box.labels.values())}


def create_label(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str
) -> dict[str, Any]:
    return box.create_label(_json(body))


def patch_label(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, lid: str
) -> dict[str, Any]:
    return box.patch_label(lid, _json(body))


def delete_label(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, lid: str
) -> dict[str, Any]:
    box.delete_label(lid)
    return {}


def _draft(box: Mailbox, draft_id: str) -> dict[str, Any]:
    return {"id": draft_id, "message": box.get(box.draft_message(draft_id)).resource("minimal")}


def create_draft(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str
) -> dict[str, Any]:
    message = _json(body).get("message", {})
    return _draft(box, box.create_draft(_raw(message), message.get("threadId")))


def update_draft(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, did: str
) -> dict[str, Any]:
    message = _json(body).get("message", {})
    box.update_draft(did, _raw(message), message.get("threadId"))
    return _draft(box, did)


def send_draft(fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str) -> dict[str, Any]:
    return box.send_draft(str(_json(body).get("id", ""))).resource("minimal")


def delete_draft(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, did: str
) -> dict[str, Any]:
    box.delete(box.draft_message(did))
    return {}


def get_draft(
    fake: Any, box: Mailbox, params: Params, body: bytes, ctype: str, did: str
) -> dict[str, Any]:
    return _draft(box, did)


_ID = r"([A-Za-z0-9_\-]+)"
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("GET", "/profile", "getProfile", profile),
    ("GET", "/messages", "messages.list", list_messages),
    ("POST", "/messages/batchModify", "messages.batchModify", batch_modify),
    ("POST", "/messages/send", "messages.send", send),
    ("GET", f"/messages/{_ID}", "messages.get", get_message),
    ("POST", f"/messages/{_ID}/modify", "messages.modify", modify),
    ("POST", f"/messages/{_ID}/trash", "messages.trash", trash),
    ("POST", f"/messages/{_ID}/untrash", "messages.untrash", untrash),
    ("DELETE", f"/messages/{_ID}", "messages.delete", delete),
    ("GET", "/history", "history.list", history),
    ("GET", "/labels", "labels.list", labels),
    ("POST", "/labels", "labels.create", create_label),
    ("PATCH", f"/labels/{_ID}", "labels.patch", patch_label),
    ("PUT", f"/labels/{_ID}", "labels.update", patch_label),
    ("DELETE", f"/labels/{_ID}", "labels.delete", delete_label),
    ("POST", "/drafts", "drafts.create", create_draft),
    ("POST", "/drafts/send", "drafts.send", send_draft),
    ("GET", f"/drafts/{_ID}", "drafts.get", get_draft),
    ("PUT", f"/drafts/{_ID}", "drafts.update", update_draft),
    ("DELETE", f"/drafts/{_ID}", "drafts.delete", delete_draft),
]
_PREFIX = re.compile(r"^(/upload)?/gmail/v1/users/[^/]+")


def route(method: str, path: str) -> tuple[str, Handler, tuple[str, ...]]:
    prefix = _PREFIX.match(path)
    if prefix is None:
        raise ApiError(404, "notFound", f"no such path {path}")
    rest = path[prefix.end() :]
    if prefix.group(1):
        if method == "POST" and rest == "/messages/send":
            return "messages.send", upload_send, ()
        raise ApiError(404, "notFound", f"no upload path {path}")
    for verb, pattern, name, handler in ROUTES:
        found = re.fullmatch(pattern, rest)
        if verb == method and found:
            return name, handler, found.groups()
    raise ApiError(404, "notFound", f"no such method {method} {path}")
