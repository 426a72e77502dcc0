"""grant leases (owner, expiry, fencing generation, heartbeat) and the live sync workers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The lease columns that 0001 put on ``grants`` stay unused: the heartbeat of every grant every few
seconds and the row locks of claims and fencing belong on a narrow table of their own, away from the
row the API and the sync's status updates write (see docs/adr/0010-account-leases.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grant_leases",
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["grants.id"],
            name=op.f("fk_grant_leases_grant_id_grants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_grant_leases")),
    )
    with op.batch_alter_table("grant_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_leases_owner"), ["owner"], unique=False)
    op.create_table(
        "sync_workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_workers")),
    )


def downgrade() -> None:
    op.drop_table("sync_workers")
    with op.batch_alter_table("grant_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_leases_owner"))
    op.drop_table("grant_leases")
