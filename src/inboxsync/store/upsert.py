"""INSERT … ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from inboxsync.store.models import table_of


async def upsert(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
) -> None:
    """Insert rows; where ``key`` exists already, overwrite the other columns."""
    if not rows:
        return
    table = table_of(model)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Rows of one statement must not repeat a key (PostgreSQL refuses it): the last one wins.
    unique = list({tuple(r[k] for k in key): r for r in rows}.values())
    columns = [c for c in unique[0] if c not in key]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: stmt.excluded[c] for c in columns}
    )
    await session.execute(stmt, unique)  # executemany: compiled once, cached
