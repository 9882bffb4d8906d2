"""Secrets at rest: the encrypted server secret, and TOTP secret columns wide enough for their ciphertext.

The secrets themselves (signing keys, TOTP secrets) are encrypted by the first start after this migration,
which has the key-encryption key (a migration does not): see stores/_sql_secrets.py.

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("kek_id", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("keyed_from", SEQ, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("mfa_factors") as batch:  # SQLite changes a column by copying the table
        batch.alter_column("secret", type_=sa.String(256), existing_type=sa.String(64), existing_nullable=True)
        batch.alter_column("pending_secret", type_=sa.String(256), existing_type=sa.String(64), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("mfa_factors") as batch:
        batch.alter_column("pending_secret", type_=sa.String(64), existing_type=sa.String(256))
        batch.alter_column("secret", type_=sa.String(64), existing_type=sa.String(256))
    op.drop_table("server_secrets")
