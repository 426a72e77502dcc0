"""Apply Alembic migrations from code (``inboxsync migrate``, ``serve`` on start, the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from inboxsync.store.db import Database

if TYPE_CHECKING:  # Alembic is imported only when a migration runs: every CLI start checks first
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD = "0011"  # the newest revision; a test checks it against the scripts


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    return heads[0]


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` inside one connection."""

    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def downgrade(db: Database, revision: str) -> None:
    """Downgrade the database to ``revision`` (``base`` removes every table)."""

    from alembic import command

    def run(connection: Connection) -> None:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or ``None`` when it has never been migrated."""

    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def is_current(db: Database) -> bool:
    """Whether the schema is at :data:`HEAD`, read with one query (no Alembic machinery)."""
    try:
        async with db.engine.connect() as conn:
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError:
        return False
    return bool(version == HEAD)


async def ensure_current(db: Database) -> None:
    """Upgrade to head unless already there (the cheap check first: every CLI run does this)."""
    if not await is_current(db):
        await upgrade(db)
