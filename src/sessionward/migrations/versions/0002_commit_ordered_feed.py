"""The revocation feed numbered in commit order, and both log heads always present.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-01

revocation_head holds the newest revocation's seq; a writer takes its numbers from it just before its commit
and holds the row until then, so seqs are handed out in commit order and a node polling `seq > cursor` misses
none (a SERIAL seq is taken at insert: a lower one can commit after a higher one was read). Seeding both heads
here means no writer ever has to create one, which two nodes writing their first records at once would race on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

GENESIS_HASH = "0" * 64  # sessionward.core.audit.GENESIS_HASH, frozen here as this revision wrote it


def upgrade() -> None:
    op.create_table(
        "revocation_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO revocation_head (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM revocations")
    op.execute(
        sa.text(
            "INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis WHERE NOT EXISTS (SELECT 1 FROM audit_head)"
        ).bindparams(genesis=GENESIS_HASH)
    )


def downgrade() -> None:
    op.drop_table("revocation_head")
