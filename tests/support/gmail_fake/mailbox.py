"""One fake Gmail mailbox: messages, labels, drafts and the history log, with Google's rules.

What it follows (Gmail API v1 reference, https://developers.google.com/gmail/api/reference/rest):

- Message ids and thread ids are 16 lower-case hex digits, growing with time; a thread's id is the id of
  its first message (users.messages, https://developers.google.com/gmail/api/reference/rest/v1/users.messages).
- ``messages.list`` returns newest first (by internal date), ``maxResults`` default 100 and at most 500,
  with an opaque ``nextPageToken``; SPAM and TRASH are left out unless ``includeSpamTrash``
  (https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list).
- History ids grow but are not contiguous; every change to a message writes a history record of type
  messagesAdded, messagesDeleted, labelsAdded or labelsRemoved; ``history.list`` with a start id older
  than what is kept answers 404 (https://developers.google.com/gmail/api/reference/rest/v1/users.history/list,
  https://developers.google.com/gmail/api/guides/sync#partial). Label creation writes no history.
- ``messages.modify`` refuses SENT, DRAFT and CHAT, which only Gmail itself applies; user labels are
  ``Label_<n>``, names unique, nesting written as ``Parent/Child``
  (https://developers.google.com/gmail/api/reference/rest/v1/users.labels).
- Drafts keep their id; updating one replaces its message, whose id changes
  (https://developers.google.com/gmail/api/reference/rest/v1/users.drafts/update).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

SYSTEM_LABELS = (
    "INBOX", "SENT", "DRAFT", "TRASH", "SPAM", "STARRED", "UNREAD", "IMPORTANT", "CHAT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)  # fmt: skip
NOT_SETTABLE = frozenset({"SENT", "DRAFT", "CHAT"})
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


class ApiError(Exception):
    """An error answer: HTTP status, Google's reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message

    def body(self) -> dict[str, Any]:
        statuses = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
                "status": statuses.get(self.status, "FAILED_PRECONDITION"),
            }
        }


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    raw: bytes
    labels: set[str]
    internal_date: int  # ms
    history_id: int
    message_id_header: str = ""

    def resource(self, fmt: str = "raw") -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": sorted(self.labels),
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
            "sizeEstimate": len(self.raw),
            "snippet": "",
        }
        if fmt == "raw":
            out["raw"] = base64.urlsafe_b64encode(self.raw).decode()
        if fmt == "minimal":
            out.pop("snippet")
        return out


@dataclass
class Mailbox:
    email: str
    history_id: int = 1_000_000
    history: list[dict[str, Any]] = field(default_factory=list)
    history_floor: int = 0  # history.list below this answers 404
    messages: dict[str, FakeMessage] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id -> message id
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for name in SYSTEM_LABELS:
            self.labels[name] = {"id": name, "name": name, "type": "system"}
        self.history_floor = self.history_id
        self._base = 0x18F0000000000000 + random.getrandbits(40)

    # --- ids and history -------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{self._base + next(self._ids) * 4096 + random.getrandbits(12):016x}"

    def _bump(self) -> int:
        self.history_id += random.randint(1, 5)  # not contiguous, as Google says
        return self.history_id

    def _record(self, kind: str, message: FakeMessage, label_ids: list[str] | None = None) -> None:
        hid = self._bump()
        message.history_id = hid
        ref = {"id": message.id, "threadId": message.thread_id}
        entry: dict[str, Any] = {"message": {**ref, "labelIds": sorted(message.labels)}}
        if label_ids is not None:
            entry["labelIds"] = label_ids
        self.history.append({"id": str(hid), "messages": [ref], kind: [entry]})

    def expire_history(self) -> None:
        """Forget every history record so far (Google keeps about a week, sometimes less)."""
        self.history.clear()
        self.history_floor = self._bump()

    def list_history(self, start: int) -> list[dict[str, Any]]:
        if start < self.history_floor:
            raise ApiError(404, "notFound", "Requested entity was not found.")
        return [h for h in self.history if int(h["id"]) > start]

    # --- messages --------------------------------------------------------------------------------

    def get(self, message_id: str) -> FakeMessage:
        message = self.messages.get(message_id)
        if message is None:
            raise ApiError(404, "notFound", "Requested entity was not found.")
        return message

    def _check_labels(self, label_ids: list[str], *, settable: bool = True) -> None:
        for label in label_ids:
            if label not in self.labels or (settable and label in NOT_SETTABLE):
                raise ApiError(400, "invalidArgument", f"Invalid label: {label}")

    def insert(
        self,
        raw: bytes,
        labels: list[str],
        *,
        thread_id: str | None = None,
        internal_date: int | None = None,
    ) -> FakeMessage:
        """A message arrives (delivery, send, import): messagesAdded."""
        self._check_labels(labels, settable=False)
        headers = _HEADERS.parsebytes(raw)
        msgid = str(headers.get("Message-ID", "") or "").strip()
        refs = (
            f"{headers.get('In-Reply-To', '') or ''} {headers.get('References', '') or ''}".split()
        )
        mid = self.new_id()
        if thread_id is None or not any(m.thread_id == thread_id for m in self.messages.values()):
            thread_id = next(
                (
                    m.thread_id
                    for m in self.messages.values()
                    if m.message_id_header in refs and m.message_id_header
                ),
                mid,
            )
        message = FakeMessage(
            mid, thread_id, raw, set(labels), internal_date or int(time.time() * 1000), 0, msgid
        )
        self.messages[mid] = message
        self._record("messagesAdded", message)
        return message

    def modify(self, message_id: str, add: list[str], remove: list[str]) -> FakeMessage:
        message = self.get(message_id)
        self._check_labels([*add, *remove])
        added = [lab for lab in dict.fromkeys(add) if lab not in message.labels]
        removed = [lab for lab in dict.fromkeys(remove) if lab in message.labels and lab not in add]
        message.labels |= set(added)
        message.labels -= set(removed)
        if added:
            self._record("labelsAdded", message, added)
        if removed:
            self._record("labelsRemoved", message, removed)
        return message

    def trash(self, message_id: str) -> FakeMessage:
        return self.modify(message_id, ["TRASH"], [])

    def untrash(self, message_id: str) -> FakeMessage:
        return self.modify(message_id, [], ["TRASH"])

    def delete(self, message_id: str) -> None:
        message = self.get(message_id)
        del self.messages[message_id]
        self._record("messagesDeleted", message)
        for draft, mid in list(self.drafts.items()):
            if mid == message_id:
                del self.drafts[draft]

    def list_ids(self, label_ids: list[str], include_spam_trash: bool) -> list[FakeMessage]:
        chosen = [
            m
            for m in self.messages.values()
            if all(lab in m.labels for lab in label_ids)
            and (
                include_spam_trash
                or not m.labels & {"SPAM", "TRASH"}
                or bool(set(label_ids) & {"SPAM", "TRASH"})
            )
        ]
        chosen.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
        return chosen

    # --- labels ----------------------------------------------------------------------------------

    def create_label(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name", "")).strip()
        if not name:
            raise ApiError(400, "invalidArgument", "Invalid label name")
        if name.upper() in SYSTEM_LABELS or any(
            lab["name"] == name for lab in self.labels.values()
        ):
            raise ApiError(409, "failedPrecondition", "Label name exists or conflicts")
        number = 1 + sum(1 for k in self.labels if k.startswith("Label_"))
        label = {**_label_fields(body), "id": f"Label_{number}", "name": name, "type": "user"}
        self.labels[label["id"]] = label
        return label

    def patch_label(self, label_id: str, body: dict[str, Any]) -> dict[str, Any]:
        label = self.labels.get(label_id)
        if label is None:
            raise ApiError(404, "notFound", "Requested entity was not found.")
        if label["type"] == "system":
            raise ApiError(400, "invalidArgument", "Invalid label update: system label")
        name = body.get("name")
        if name and any(lab["name"] == name and k != label_id for k, lab in self.labels.items()):
            raise ApiError(409, "failedPrecondition", "Label name exists or conflicts")
        label.update(_label_fields(body))
        if name:
            label["name"] = name
        return label

    def delete_label(self, label_id: str) -> None:
        label = self.labels.get(label_id)
        if label is None:
            raise ApiError(404, "notFound", "Requested entity was not found.")
        if label["type"] == "system":
            raise ApiError(400, "invalidArgument", "Invalid delete request")
        del self.labels[label_id]
        for message in self.messages.values():
            if label_id in message.labels:
                message.labels.discard(label_id)
                self._record("labelsRemoved", message, [label_id])

    # --- drafts ----------------------------------------------------------------------------------

    def create_draft(self, raw: bytes, thread_id: str | None) -> str:
        message = self.insert(raw, ["DRAFT"], thread_id=thread_id)
        draft_id = "r" + str(random.getrandbits(62))
        self.drafts[draft_id] = message.id
        return draft_id

    def update_draft(self, draft_id: str, raw: bytes, thread_id: str | None) -> FakeMessage:
        old = self.get(self.draft_message(draft_id))
        self.delete(old.id)
        message = self.insert(raw, ["DRAFT"], thread_id=thread_id or old.thread_id)
        self.drafts[draft_id] = message.id
        return message

    def draft_message(self, draft_id: str) -> str:
        if draft_id not in self.drafts:
            raise ApiError(404, "notFound", "Requested entity was not found.")
        return self.drafts[draft_id]

    def send_draft(self, draft_id: str) -> FakeMessage:
        message = self.get(self.draft_message(draft_id))
        del self.drafts[draft_id]
        message.labels.discard("DRAFT")
        message.labels.add("SENT")
        self._record("labelsRemoved", message, ["DRAFT"])
        self._record("labelsAdded", message, ["SENT"])
        return message


def _label_fields(body: dict[str, Any]) -> dict[str, Any]:
    keep = ("labelListVisibility", "messageListVisibility", "color")
    return {k: body[k] for k in keep if k in body}
