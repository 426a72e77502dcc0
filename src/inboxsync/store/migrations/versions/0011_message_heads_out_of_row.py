"""messages: heads and bodies out of the row on PostgreSQL (TOAST), the page's fields in a narrow row

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Migration 0008 kept ``json_head`` compressed in the row (``STORAGE MAIN``) because page statements read
it. They no longer do: each API process keeps the heads it served (docs/adr/0013), and a page's
statement reads only the fields that change (flags, folders, metadata). A row of ~2.4 KB (head and body
inline) made that statement visit three times the heap pages and step over the head to reach
``folder_ids``: 0.22 ms of the server's CPU for a list page and 0.33 ms for an ``in=`` page, against
0.07 and 0.15 ms with rows of ~0.85 KB (docs/adr/0015). Here the head may leave the row like the body
(``STORAGE EXTENDED``: compressed, then moved to the TOAST table), and a row over the 2 KB threshold is
cut down to 1 KB rather than to just under 2 KB (``toast_tuple_target``). Rows already written keep their
layout until they are rewritten (``VACUUM FULL messages``, docs/operations.md). SQLite: nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOAST_TUPLE_TARGET = 1024


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE messages ALTER COLUMN json_head SET STORAGE EXTENDED")
    op.execute(f"ALTER TABLE messages SET (toast_tuple_target = {TOAST_TUPLE_TARGET})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE messages RESET (toast_tuple_target)")
    op.execute("ALTER TABLE messages ALTER COLUMN json_head SET STORAGE MAIN")
