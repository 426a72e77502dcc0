"""SQLAlchemy models: the tables of inboxsync.

The same models serve SQLite and PostgreSQL. Times that the API serves are integer unix seconds
(portable, cheap to index and compare); ids are opaque strings from :func:`inboxsync.core.ids.new_id`.
Changing a model means a new Alembic revision in ``store/migrations/versions``.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (so that it is the rowid alias and autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of a model (typed: ``__table__`` is declared as a FromClause)."""
    return cast(Table, model.__table__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    """A key that may call the API. Only the SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class Grant(Base):
    """An account the application connected."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320), index=True)
    api_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    grant_status: Mapped[str] = mapped_column(String(16), default="valid")
    sync_state: Mapped[str] = mapped_column(String(16), default="running")
    last_error: Mapped[str | None] = mapped_column(Text)
    initial_sync_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_started_at: Mapped[int | None] = mapped_column(BigInteger)
    last_sync_at: Mapped[int | None] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    lease_generation: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Folder(Base):
    """A mailbox (IMAP) or a label (Gmail), with its sync cursor."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("grant_id", "path"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000))  # the provider's name (IMAP: decoded mailbox)
    name: Mapped[str] = mapped_column(String(1000))  # the last component, shown to users
    parent_id: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    role: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[list[Any]] = mapped_column(default=list)
    background_color: Mapped[str | None] = mapped_column(String(16))
    text_color: Mapped[str | None] = mapped_column(String(16))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uidnext: Mapped[int | None] = mapped_column(BigInteger)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)  # provider-specific progress
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Thread(Base):
    """A conversation; its summary fields are derived from its messages."""

    __tablename__ = "threads"
    __table_args__ = (
        Index("ix_threads_grant_latest", "grant_id", "latest_message_received_date", "id"),
        Index("ix_threads_grant_provider", "grant_id", "provider_thread_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    provider_thread_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    snippet: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[list[Any]] = mapped_column(default=list)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    has_drafts: Mapped[bool] = mapped_column(Boolean, default=False)
    earliest_message_date: Mapped[int | None] = mapped_column(BigInteger)
    latest_message_received_date: Mapped[int | None] = mapped_column(BigInteger)
    latest_message_sent_date: Mapped[int | None] = mapped_column(BigInteger)
    latest_message_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ThreadRef(Base):
    """Every Message-ID a thread's messages carry or cite, so that replies find their thread in any order."""

    __tablename__ = "thread_refs"

    grant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), primary_key=True)  # a normalised Message-ID
    thread_id: Mapped[str] = mapped_column(String(32), index=True)


class Message(Base):
    """One message: on IMAP deduplicated across folders by content hash; on Gmail by its id."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_grant_received", "grant_id", "received_at", "id"),
        Index("ix_messages_grant_thread", "grant_id", "thread_id"),
        Index("ix_messages_grant_msgid", "grant_id", "message_id_header"),
        Index("ix_messages_grant_sha", "grant_id", "sha256"),
        Index("ix_messages_grant_provider", "grant_id", "provider_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    thread_id: Mapped[str | None] = mapped_column(String(32))
    provider_id: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))  # of the raw bytes: the blob key
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    message_id_header: Mapped[str | None] = mapped_column(String(1000))
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    from_: Mapped[list[Any]] = mapped_column("from", default=list)
    to: Mapped[list[Any]] = mapped_column(default=list)
    cc: Mapped[list[Any]] = mapped_column(default=list)
    bcc: Mapped[list[Any]] = mapped_column(default=list)
    reply_to: Mapped[list[Any]] = mapped_column(default=list)
    date: Mapped[int] = mapped_column(BigInteger)  # the Date header (or internal date)
    received_at: Mapped[int] = mapped_column(BigInteger)  # the server's internal date
    snippet: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    unread: Mapped[bool] = mapped_column(Boolean, default=True)
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    is_draft: Mapped[bool] = mapped_column(Boolean, default=False)
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    parse_errors: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # The unchanging part of its API object, pre-rendered (store/message_json.py); NULL: rendered live.
    json_head: Mapped[bytes | None] = mapped_column(LargeBinary)
    # PostgreSQL: its folders' ids, space-separated, kept by triggers on message_folders (migration
    # 0010); NULL on SQLite, which reads message_folders in-process.
    folder_ids: Mapped[str | None] = mapped_column(Text)


class MessageAddress(Base):
    """One address of a message (its sender's, its recipients'), with the fields it is in: the index
    of the list filters by address (``from=``, ``to=``, ``any_email=`` …), ordered like the message
    list itself so that a page of one address's messages is one range of it (docs/adr/0013)."""

    __tablename__ = "message_addresses"
    __table_args__ = (
        Index("ix_message_addresses_message", "message_id"),
        {"sqlite_with_rowid": False},
    )

    grant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # stripped, lower case
    received_at: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Message.received_at
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    roles: Mapped[int] = mapped_column(Integer)  # bits of store/addresses.py ROLES


class MessageFolder(Base):
    """Which folder holds which message, under which UID, with which flags."""

    __tablename__ = "message_folders"
    __table_args__ = (
        Index("ix_message_folders_folder_received", "folder_id", "received_at", "message_id"),
        Index("ix_message_folders_message", "message_id"),
    )

    folder_id: Mapped[str] = mapped_column(
        ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True
    )
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Gmail: 0 (one row a label)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    grant_id: Mapped[str] = mapped_column(String(32))
    flags: Mapped[list[Any]] = mapped_column(default=list)
    modseq: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[int] = mapped_column(BigInteger)  # copy of Message.received_at for `in=`


class Attachment(Base):
    """A part of a message; its bytes are extracted from the raw message blob on demand."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    part_id: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    content_id: Mapped[str | None] = mapped_column(String(1000))
    content_disposition: Mapped[str | None] = mapped_column(String(32))
    is_inline: Mapped[bool] = mapped_column(Boolean, default=False)


class Change(Base):
    """The change log: written in the same transaction as the change it describes."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_grant_id", "grant_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    fields: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[float] = mapped_column(Float)


class Action(Base):
    """The outbox: a local change not yet applied at the provider."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_grant_state", "grant_id", "state", "id"),
        UniqueConstraint("grant_id", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class Webhook(Base):
    """A webhook destination (Nylas v3); its secret is sealed at rest."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )  # None: the operator's (every grant); else the grants of that key
    description: Mapped[str | None] = mapped_column(Text)
    webhook_url: Mapped[str] = mapped_column(Text)
    trigger_types: Mapped[list[Any]] = mapped_column(default=list)
    notification_email_addresses: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_updated_at: Mapped[int] = mapped_column(BigInteger)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    failing_since: Mapped[float | None] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class WebhookDelivery(Base):
    """The webhook outbox: one notification for one destination, deleted once delivered."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64))  # the payload's ``id``: stable on retries
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    grant_id: Mapped[str] = mapped_column(String(32))
    change_id: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    time: Mapped[int] = mapped_column(BigInteger)
    object_json: Mapped[str] = mapped_column(Text)  # ``data.object`` as encoded JSON
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    first_failed_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class EventCursor(Base):
    """Named positions in the change log: how far it was fanned out, up to where it was pruned."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[float] = mapped_column(Float)


class GrantLease(Base):
    """Which worker syncs a grant (``store/leases.py``); ``generation`` is the fencing token that every
    write of the sync checks, bumped on each claim."""

    __tablename__ = "grant_leases"

    grant_id: Mapped[str] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    heartbeat_at: Mapped[float | None] = mapped_column(Float)


class SyncWorker(Base):
    """A live ``inboxsync worker`` (or ``serve``): the fair share is the active grants divided by these."""

    __tablename__ = "sync_workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float] = mapped_column(Float)
