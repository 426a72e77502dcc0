"""PostgreSQL: one GIN-indexed vector of every field word, prefixed with its field

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

``from:``, ``to:``, ``cc:``, ``bcc:``, ``subject:`` and ``filename:`` narrowed through the GIN index
of ``doc``, which holds the word wherever it occurs: ``cc:exmh`` gathered the 90,795 of 1,000,000
messages that say "exmh" anywhere to find the 14,262 with it in Cc. ``fields`` holds ``c:exmh``
for a word of Cc (``j`` subject, ``f`` from, ``t`` to, ``b`` bcc, ``n`` attachment names), built
from the per-field vectors already stored (so this backfill needs no message text), with its own
GIN index. SQLite's FTS5 filters columns in its own index: nothing changes there.

The backfill rewrites every row of ``search_docs``: 9 minutes for 1,000,000 messages here (shared
2-core machine), and the ``doc`` GIN index doubled (477 → 1,045 MiB) until ``REINDEX INDEX
ix_search_docs_doc`` (docs/operations.md: upgrades).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in store/fts.py at this revision (a migration does not follow later code).
PREFIX = {"subject": "j", "sender": "f", "to_addr": "t", "cc_addr": "c", "bcc_addr": "b"}
PREFIX |= {"filename": "n"}
VECTOR = "array_to_tsvector(ARRAY({}))".format(
    " UNION ALL ".join(
        f"SELECT '{p}:' || x FROM unnest(tsvector_to_array({f})) AS x" for f, p in PREFIX.items()
    )
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_docs ADD COLUMN fields tsvector NOT NULL DEFAULT ''")
    op.execute(f"UPDATE search_docs SET fields = {VECTOR}")
    op.execute("CREATE INDEX ix_search_docs_fields ON search_docs USING gin (fields)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_docs_fields")
        op.execute("ALTER TABLE search_docs DROP COLUMN fields")
