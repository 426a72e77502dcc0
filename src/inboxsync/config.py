"""Settings, read from ``INBOXSYNC_*`` environment variables and overridden by CLI flags.

The defaults serve the embedded case: SQLite and blobs under ``./data``, the API on 127.0.0.1:8000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a process of inboxsync can be told."""

    model_config = SettingsConfigDict(env_prefix="INBOXSYNC_", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Blobs, keys and the SQLite file.")
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://user@host/db; default: SQLite in the data dir.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url and not normalise_database_url(url).startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            scheme = url.split("://", 1)[0]
            raise ValueError(f"sqlite:///… or postgresql://… (through asyncpg), not {scheme}://")
        return url

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="An API key accepted for every grant (embedded use)."
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Base64 key (32 bytes) encrypting credentials at rest."
    )
    webhook_allow_private: bool = False
    application_id: str = Field(
        default="inboxsync", description="``data.application_id`` of webhook notifications."
    )
    change_retention_days: float = Field(
        default=7.0, gt=0, description="How long the change log (stream cursors) is kept."
    )
    webhook_retry_base: float = Field(
        default=10.0,
        gt=0,
        description="Seconds before the first webhook retry (doubles each time).",
    )
    webhook_retry_cap: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts of a notification."
    )
    webhook_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A webhook process that stops renewing loses its destinations after this.",
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A sync worker that stops renewing loses its grants to the others after this.",
    )
    webhook_retry_hours: float = Field(
        default=72.0, gt=0, description="Failing this long marks a webhook destination failed."
    )
    allow_private_mail_hosts: bool = Field(
        default=False,
        description="Let API keys other than the operator's connect accounts on private addresses.",
    )
    allow_plaintext_remote: bool = Field(
        default=False, description="Allow IMAP/SMTP without TLS to hosts other than loopback."
    )
    durable_writes: bool = Field(
        default=True, description="fsync blobs before the rows that name them commit."
    )
    max_send_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Largest message (attachments included, before encoding) the API sends.",
    )
    send_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a send being delivered by an API request is left to that request "
        "before the worker takes it over (the request's process died).",
    )
    smtp_timeout: float = Field(default=60.0, gt=0, description="Seconds per SMTP command.")
    head_cache_mb: int = Field(
        default=64,
        ge=0,
        le=65536,
        description="PostgreSQL: megabytes of messages' unchanging JSON each API process keeps, so "
        "that a page of messages it served before crosses the socket without bodies (0: none).",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="PostgreSQL connections a process keeps (and twice as many more at peaks, plus "
        "two for a worker's leases, db_read_connections more for an API process's reads): size "
        "max_connections for every process of the fleet.",
    )
    db_read_connections: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="PostgreSQL: statements an API process runs at once for its list and find "
        "reads (the others wait their turn in the process). Each is a connection of its own. More "
        "helps when reads wait for the disk; with the data in memory, two an API process is "
        "enough to keep the database busy, and more only make its processes fight for the cores.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="``json``: one JSON object a line, with grant_id/request_id."
    )
    nats_url: str | None = Field(
        default=None, description="NATS server (``nats://host:4222``): publish the change log."
    )
    nats_stream: str = Field(
        default="INBOXSYNC",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The JetStream stream the change log goes to (created when missing).",
    )
    nats_subject_prefix: str = Field(
        default="inboxsync",
        pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="Subjects are ``<prefix>.<grant>.<object>.<event>``.",
    )
    google_client_id: str | None = Field(default=None, description="OAuth client id for Gmail.")
    google_client_secret: SecretStr | None = Field(default=None, description="Its secret.")
    google_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", description="Google's OAuth token endpoint."
    )
    google_api_url: str = Field(
        default="https://gmail.googleapis.com", description="Base URL of the Gmail API."
    )
    google_push_token: SecretStr | None = Field(
        default=None, description="Shared secret (?token=) that Pub/Sub push requests must carry."
    )

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/inboxsync.db`` on SQLite."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'inboxsync.db').resolve()}"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the CLI flags that were given (``None`` means not given)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        return self.model_validate({**self.model_dump(), **given})


def normalise_database_url(url: str) -> str:
    """Accept the usual URL spellings and pick the async driver for each database."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url
