"""Migrations round-trip (upgrade, downgrade, upgrade) on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from inboxsync.store.db import Database
from inboxsync.store.migrate import current_revision, downgrade, head_revision, upgrade
from inboxsync.store.models import Base


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_upgrade_downgrade_upgrade(empty_database: Database) -> None:
    db = empty_database
    assert await current_revision(db) is None

    await upgrade(db)
    assert await current_revision(db) == head_revision()
    expected = set(Base.metadata.tables)
    assert expected <= await table_names(db)

    await downgrade(db, "base")
    assert await current_revision(db) is None
    assert not (expected & await table_names(db))

    await upgrade(db)
    assert expected <= await table_names(db)


async def test_models_match_migrations(database: Database) -> None:
    """Autogenerate finds nothing to do: the models and the migration files agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def modelled(name: str | None, type_: str, _parent: object) -> bool:
        # The full-text index (migration 0002) is dialect-specific DDL with no model: FTS5 virtual
        # table, its shadow tables and external-content table on SQLite, tsvector/GIN on PostgreSQL.
        return not (type_ == "table" and (name or "").startswith("search_"))

    def diff(conn: object) -> list[object]:
        opts = {"compare_type": True, "include_name": modelled}
        context = MigrationContext.configure(conn, opts=opts)  # type: ignore[arg-type]  # sync Connection from run_sync
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


def test_head_constant_matches_scripts() -> None:
    from inboxsync.store.migrate import HEAD

    assert head_revision() == HEAD


async def test_ensure_current(empty_database: Database) -> None:
    from inboxsync.store.migrate import ensure_current, is_current

    assert not await is_current(empty_database)
    await ensure_current(empty_database)
    assert await is_current(empty_database)
    await ensure_current(empty_database)  # a no-op now
