"""SQLite: new search documents reach FTS5 in one INSERT … SELECT a batch, not through a row trigger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Measured on the 6,046-message corpus in newest-first batches: the per-row AFTER INSERT trigger cost
2.9–3.0 s of SQLite CPU, one ``INSERT INTO search_fts … SELECT … WHERE docid IN (…)`` per batch
1.25–1.4 s (:func:`inboxsync.store.fts.index` issues it). The delete and update triggers stay.
PostgreSQL keeps its tsvector columns: nothing changes there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("subject", "sender", "to_addr", "cc_addr", "bcc_addr", "filename", "body")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS search_docs_ai")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"""CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
            INSERT INTO search_fts(rowid, {", ".join(FIELDS)})
            VALUES (new.docid, {", ".join(f"new.{f}" for f in FIELDS)});
        END"""
        )
