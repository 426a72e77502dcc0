"""PostgreSQL: finer statistics on the search vector, so the planner tells rare words from common

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

With the default statistics target (100) PostgreSQL keeps the 1,000 most common lexemes of
``search_docs.doc``; at 1,000,000 messages the last of them is in 3 % of documents, and every other
word is estimated at 0.5 % (5,000 documents), so a word in 206 documents was searched by walking
the date index (2.6 s) instead of the GIN index (7 ms). At 1,000 the list holds 10,000 lexemes and
a word outside it is estimated at ~0.08 %; ANALYZE of 1,000,000 documents took 15 s (autovacuum
does it in the background). ``store/search_pages.py`` reads the estimate to pick its read path.
SQLite has nothing to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE search_docs ALTER COLUMN doc SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE search_docs ALTER COLUMN doc SET STATISTICS -1")
