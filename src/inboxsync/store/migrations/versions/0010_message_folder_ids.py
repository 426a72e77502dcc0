"""messages.folder_ids: a message's folders on its row, kept by PostgreSQL triggers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

A page of 50 messages looked each message's folders up in message_folders: a third of the page's
statement on PostgreSQL (docs/adr/0013). There, statement-level triggers on message_folders (insert,
delete and update, cascades included; transition tables allow no column list) keep the space-separated
ids on the message row. They lock the rows first, so that two transactions placing one message see each
other's placements, and write only rows whose value changes: ingest fills the value as it inserts, so
new messages are not written twice. SQLite reads the folders in-process and leaves the column NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def folder_ids(message_id: str) -> str:
    """The SQL of the stored value for the message whose id is the SQL ``message_id``."""
    return (
        "(SELECT string_agg(DISTINCT mf.folder_id, ' ' ORDER BY mf.folder_id) "
        f"FROM message_folders AS mf WHERE mf.message_id = {message_id})"
    )


_FUNCTION = f"""
CREATE FUNCTION inboxsync_message_folder_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Another transaction placing the same message meanwhile: wait for it (it holds these locks until
  -- it ends), so that the value below, read by a statement started after, includes its placements.
  PERFORM 1 FROM messages WHERE id IN (SELECT message_id FROM changed) ORDER BY id
    FOR NO KEY UPDATE;
  UPDATE messages AS m SET folder_ids = f.ids
  FROM (SELECT c.message_id AS id, {folder_ids("c.message_id")} AS ids
        FROM (SELECT DISTINCT message_id FROM changed) AS c) AS f
  WHERE m.id = f.id AND m.folder_ids IS DISTINCT FROM f.ids;
  RETURN NULL;
END $$
"""

_TRIGGERS = (
    ("inserted", "INSERT", "NEW"),
    ("deleted", "DELETE", "OLD"),
    ("updated_from", "UPDATE", "OLD"),
    ("updated_to", "UPDATE", "NEW"),
)


def upgrade() -> None:
    op.add_column("messages", sa.Column("folder_ids", sa.Text(), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    for name, event, table in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER message_folder_ids_{name} AFTER {event} ON message_folders "
            f"REFERENCING {table} TABLE AS changed FOR EACH STATEMENT "
            "EXECUTE FUNCTION inboxsync_message_folder_ids()"
        )
    op.execute(f"UPDATE messages SET folder_ids = {folder_ids('messages.id')}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _, _ in _TRIGGERS:
            op.execute(f"DROP TRIGGER message_folder_ids_{name} ON message_folders")
        op.execute("DROP FUNCTION inboxsync_message_folder_ids()")
    op.drop_column("messages", "folder_ids")  # SQLite 3.35+: in place (no table copy)
