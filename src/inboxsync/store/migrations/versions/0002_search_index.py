"""full-text search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Dialect-specific DDL, kept out of the models on purpose (``tests/store/test_migrate.py`` ignores these
tables by name): SQLite gets an FTS5 table over an external-content table ``search_docs`` kept in step by
triggers; PostgreSQL gets ``search_docs`` with a weighted ``tsvector`` (GIN) and one small vector per
field for ``from:``/``to:``/… rechecks. Text arrives already normalised (see ``store/fts.py``), so both
backends tokenise alike. Rows go away with their message (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELDS = ("subject", "sender", "to_addr", "cc_addr", "bcc_addr", "filename", "body")

_SQLITE_UP = [
    f"""CREATE TABLE search_docs (
        docid INTEGER PRIMARY KEY,
        message_id VARCHAR(32) NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
        {", ".join(f"{f} TEXT NOT NULL DEFAULT ''" for f in FIELDS)}
    )""",
    f"""CREATE VIRTUAL TABLE search_fts USING fts5(
        {", ".join(FIELDS)}, content='search_docs', content_rowid='docid',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    f"""CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN
        INSERT INTO search_fts(rowid, {", ".join(FIELDS)})
        VALUES (new.docid, {", ".join(f"new.{f}" for f in FIELDS)});
    END""",
    f"""CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN
        INSERT INTO search_fts(search_fts, rowid, {", ".join(FIELDS)})
        VALUES ('delete', old.docid, {", ".join(f"old.{f}" for f in FIELDS)});
    END""",
    f"""CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN
        INSERT INTO search_fts(search_fts, rowid, {", ".join(FIELDS)})
        VALUES ('delete', old.docid, {", ".join(f"old.{f}" for f in FIELDS)});
        INSERT INTO search_fts(rowid, {", ".join(FIELDS)})
        VALUES (new.docid, {", ".join(f"new.{f}" for f in FIELDS)});
    END""",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_docs_au",
    "DROP TRIGGER IF EXISTS search_docs_ad",
    "DROP TRIGGER IF EXISTS search_docs_ai",
    "DROP TABLE IF EXISTS search_fts",
    "DROP TABLE IF EXISTS search_docs",
]

_PG_UP = [
    f"""CREATE TABLE search_docs (
        message_id VARCHAR(32) PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
        grant_id VARCHAR(32) NOT NULL,
        received_at BIGINT NOT NULL,
        doc TSVECTOR NOT NULL,
        {", ".join(f"{f} TSVECTOR NOT NULL" for f in FIELDS if f != "body")}
    )""",
    "CREATE INDEX ix_search_docs_doc ON search_docs USING gin (doc)",
    "CREATE INDEX ix_search_docs_grant_received ON search_docs (grant_id, received_at, message_id)",
]

_PG_DOWN = ["DROP TABLE IF EXISTS search_docs"]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_UP if sqlite else _PG_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_DOWN if sqlite else _PG_DOWN:
        op.execute(statement)
