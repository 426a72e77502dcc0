"""Bulk INSERT straight to the driver, for the few tables first sync fills by the thousand.

SQLAlchemy's executemany spends more CPU per row on building parameters and serialising JSON than the
database spends storing the row; here one statement is rendered per table and the rows go to the
driver as tuples, with JSON pre-serialised (:func:`inboxsync.store.db.dumps`).
Values must already be of the column's Python type; dates are integers throughout the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncSession

from inboxsync.store.db import dumps as _dumps


@cache
def _statement(
    table: Table, columns: tuple[str, ...], paramstyle: str
) -> tuple[str, tuple[bool, ...]]:
    if paramstyle in ("numeric_dollar",):
        marks = [f"${i + 1}" for i in range(len(columns))]
    elif paramstyle == "format":
        marks = ["%s"] * len(columns)
    else:
        marks = ["?"] * len(columns)
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(marks)})'
    is_json = tuple(isinstance(table.c[c].type, JSON) for c in columns)
    return sql, is_json


async def insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows have the keys of the first) in one executemany."""
    if not rows:
        return
    connection = await session.connection()
    columns = tuple(rows[0])
    sql, is_json = _statement(table, columns, connection.dialect.paramstyle)
    params = [
        tuple(
            _dumps(row[c]) if j and row[c] is not None else row[c]
            for c, j in zip(columns, is_json, strict=True)
        )
        for row in rows
    ]
    await connection.exec_driver_sql(sql, params)
