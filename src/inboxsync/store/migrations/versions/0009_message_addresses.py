"""message_addresses: the index of the list filters by address

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

One row per (message, address), keyed so that one address's messages newest first are one range
(store/addresses.py, docs/adr/0013). New messages get their rows beside their search document;
this fills them for the messages already stored, a thousand at a time in id order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from inboxsync.store.addresses import roles_of, rows_of

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000


def _people(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, list) else []


def upgrade() -> None:
    op.create_table(
        "message_addresses",
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("roles", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_addresses_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "grant_id", "address", "received_at", "message_id", name=op.f("pk_message_addresses")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_message_addresses_message", "message_addresses", ["message_id"])
    bind = op.get_bind()
    table = sa.table(
        "message_addresses",
        *(sa.column(c) for c in ("grant_id", "address", "received_at", "message_id", "roles")),
    )
    read = sa.text(
        'SELECT id, grant_id, received_at, "from", "to", cc, bcc FROM messages '
        "WHERE id > :after ORDER BY id LIMIT :n"
    )
    after = ""
    while True:
        batch = bind.execute(read, {"after": after, "n": _BATCH}).all()
        if not batch:
            break
        rows = []
        for mid, grant_id, received_at, *people in batch:
            rows.extend(rows_of(grant_id, mid, received_at, roles_of(*map(_people, people))))
        if rows:
            bind.execute(table.insert(), rows)
        after = batch[-1][0]


def downgrade() -> None:
    op.drop_index("ix_message_addresses_message", table_name="message_addresses")
    op.drop_table("message_addresses")
