"""OpenAPI documentation of the wire objects and bodies (the hot path renders plain dicts).

The models allow extra keys so that they describe, not restrict; bodies ignore unknown keys as Nylas does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

GRANT_ID = "01j8x3m4c5d6e7f8g9h0jkmnpq"
MESSAGE_ID = "01j8x3m9zq7r2s4t6v8w0yabcd"
THREAD_ID = "01j8x3m9zq7r2s4t6v8w0ythrd"
FOLDER_ID = "01j8x3m4c5d6e7f8g9h0inboxx"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Participant(_Open):
    name: str | None = None
    email: str


class AttachmentOut(_Open):
    id: str
    grant_id: str
    message_id: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    content_id: str | None = None
    content_disposition: str | None = None
    is_inline: bool | None = None


class HeaderOut(_Open):
    name: str
    value: str


class MessageOut(_Open):
    object: str = "message"
    id: str
    grant_id: str
    thread_id: str | None = None
    subject: str | None = None
    from_: list[Participant] | None = Field(default=None, alias="from")
    to: list[Participant] | None = None
    cc: list[Participant] | None = None
    bcc: list[Participant] | None = None
    reply_to: list[Participant] | None = None
    date: int | None = None
    created_at: int | None = None
    unread: bool | None = None
    starred: bool | None = None
    snippet: str | None = None
    body: str | None = None
    folders: list[str] | None = None
    attachments: list[AttachmentOut] | None = None
    metadata: dict[str, Any] | None = None
    headers: list[HeaderOut] | None = Field(default=None, description="fields=include_headers")
    raw_mime: str | None = Field(default=None, description="fields=raw_mime: base64url bytes")


class ThreadOut(_Open):
    object: str = "thread"
    id: str
    grant_id: str
    subject: str | None = None
    snippet: str | None = None
    participants: list[Participant] | None = None
    message_ids: list[str]
    draft_ids: list[str] | None = None
    folders: list[str]
    unread: bool
    starred: bool
    has_attachments: bool | None = None
    has_drafts: bool
    earliest_message_date: int | None = None
    latest_message_received_date: int | None = None
    latest_message_sent_date: int | None = None
    latest_draft_or_message: MessageOut | None


class FolderOut(_Open):
    object: str = "folder"
    id: str
    grant_id: str
    name: str
    parent_id: str | None = None
    background_color: str | None = None
    text_color: str | None = None
    system_folder: bool | None = None
    attributes: list[str] | None = None
    total_count: int | None = None
    unread_count: int | None = None
    child_count: int | None = None


class GrantOut(_Open):
    object: str = "grant"
    id: str
    provider: str
    grant_status: str | None = None
    email: str | None = None
    scope: list[str] = []
    settings: dict[str, Any] | None = None
    created_at: int | None = None
    updated_at: int | None = None


class ErrorBody(_Open):
    type: str = Field(examples=["api.not_found_error"])
    message: str
    provider_error: dict[str, Any] | None = None


class ErrorEnvelope(_Open):
    request_id: str
    error: ErrorBody


class DeletedData(_Open):
    status: str = "success"


def _one(model: type[BaseModel], name: str) -> type[BaseModel]:
    return create_model(name, __base__=_Open, request_id=(str, ...), data=(model, ...))


def _many(model: type[BaseModel], name: str) -> type[BaseModel]:
    return create_model(
        name,
        __base__=_Open,
        request_id=(str, ...),
        data=(list[model], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, None),
    )


MessageEnvelope = _one(MessageOut, "MessageEnvelope")
MessageList = _many(MessageOut, "MessageList")
ThreadEnvelope = _one(ThreadOut, "ThreadEnvelope")
ThreadList = _many(ThreadOut, "ThreadList")
FolderEnvelope = _one(FolderOut, "FolderEnvelope")
FolderList = _many(FolderOut, "FolderList")
GrantEnvelope = _one(GrantOut, "GrantEnvelope")
GrantList = _many(GrantOut, "GrantList")
AttachmentEnvelope = _one(AttachmentOut, "AttachmentEnvelope")
DeletedEnvelope = _one(DeletedData, "DeletedEnvelope")


class MessageUpdate(BaseModel):
    unread: bool | None = None
    starred: bool | None = None
    folders: list[str] | None = Field(default=None, max_length=100)
    metadata: dict[str, Any] | None = None


class ThreadUpdate(BaseModel):
    unread: bool | None = None
    starred: bool | None = None
    folders: list[str] | None = Field(default=None, max_length=100)


class FolderCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    parent_id: str | None = Field(default=None, max_length=64)
    background_color: str | None = Field(default=None, max_length=16)
    text_color: str | None = Field(default=None, max_length=16)


class FolderUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    parent_id: str | None = Field(default=None, max_length=64)
    background_color: str | None = Field(default=None, max_length=16)
    text_color: str | None = Field(default=None, max_length=16)


class GrantUpdate(BaseModel):
    settings: dict[str, Any] | None = None
    scope: list[str] | None = None


EXAMPLE_PARTICIPANT = {"name": "Ada Lovelace", "email": "ada@example.com"}
EXAMPLE_MESSAGE: dict[str, Any] = {
    "object": "message",
    "id": MESSAGE_ID,
    "grant_id": GRANT_ID,
    "thread_id": THREAD_ID,
    "subject": "Notes on the engine",
    "from": [EXAMPLE_PARTICIPANT],
    "to": [{"name": "", "email": "charles@example.com"}],
    "cc": [],
    "bcc": [],
    "reply_to": [],
    "date": 1723821985,
    "created_at": 1723821985,
    "unread": True,
    "starred": False,
    "snippet": "The engine might compose elaborate pieces of music…",
    "body": "<p>The engine might compose elaborate pieces of music…</p>",
    "folders": [FOLDER_ID],
    "attachments": [
        {
            "id": "01j8x3ma0b1c2d3e4f5g6h7j8k",
            "grant_id": GRANT_ID,
            "message_id": MESSAGE_ID,
            "filename": "notes.pdf",
            "content_type": "application/pdf",
            "size": 48213,
            "content_id": None,
            "content_disposition": "attachment",
            "is_inline": False,
        }
    ],
    "metadata": {},
}
EXAMPLE_THREAD: dict[str, Any] = {
    "object": "thread",
    "id": THREAD_ID,
    "grant_id": GRANT_ID,
    "subject": "Notes on the engine",
    "snippet": EXAMPLE_MESSAGE["snippet"],
    "participants": [EXAMPLE_PARTICIPANT, {"name": "", "email": "charles@example.com"}],
    "message_ids": [MESSAGE_ID],
    "draft_ids": [],
    "folders": [FOLDER_ID],
    "unread": True,
    "starred": False,
    "has_attachments": True,
    "has_drafts": False,
    "earliest_message_date": 1723821985,
    "latest_message_received_date": 1723821985,
    "latest_message_sent_date": None,
    "latest_draft_or_message": EXAMPLE_MESSAGE,
}
EXAMPLE_FOLDER: dict[str, Any] = {
    "object": "folder",
    "id": FOLDER_ID,
    "grant_id": GRANT_ID,
    "name": "INBOX",
    "parent_id": None,
    "background_color": None,
    "text_color": None,
    "system_folder": True,
    "attributes": ["\\Inbox"],
    "total_count": 1042,
    "unread_count": 17,
    "child_count": 0,
}
EXAMPLE_GRANT: dict[str, Any] = {
    "object": "grant",
    "id": GRANT_ID,
    "provider": "imap",
    "grant_status": "valid",
    "email": "ada@example.com",
    "scope": [],
    "settings": {"imap_host": "imap.example.com", "imap_port": 993},
    "created_at": 1723800000,
    "updated_at": 1723800000,
}
RID = "5f0c5b9e-2f4e-4a53-9d35-6a3e0c1f2b7a"


def one_doc(model: type[BaseModel], example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "model": model,
            "content": {"application/json": {"example": {"request_id": RID, "data": example}}},
        }
    }


def many_doc(model: type[BaseModel], example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    body = {"request_id": RID, "data": [example], "next_cursor": "bS4xNzIzODIxOTg1LjAxajh4"}
    return {200: {"model": model, "content": {"application/json": {"example": body}}}}


def errors_doc(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": "Nylas error envelope"} for s in statuses}


DELETED_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "model": DeletedEnvelope,
        "content": {
            "application/json": {"example": {"request_id": RID, "data": {"status": "success"}}}
        },
    }
}
