"""INSERT … ON CONFLICT DO UPDATE for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    # Rows of one statement must not repeat a key (PostgreSQL refuses it): the last one wins.
    unique = list({tuple(r[k] for k in key): r for r in rows}.values())
    columns = [c for c in unique[0] if c not in key]
    # The dialect is imported here: a SQLite process never loads PostgreSQL's.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(table)
        stmt: Any = pg.on_conflict_do_update(
            index_elements=list(key), set_={c: pg.excluded[c] for c in columns}
        )
    else:
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(table)
        stmt = lite.on_conflict_do_update(
            index_elements=list(key), set_={c: lite.excluded[c] for c in columns}
        )
    await session.execute(stmt, unique)  # executemany: compiled once, cached
