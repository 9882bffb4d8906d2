"""The initial schema: the tables `metadata.create_all` made before migrations existed.

Revision ID: 0001
Revises:
Create Date: 2026-11-01

Portable: the same types, keys, indexes and constraints on SQLite and PostgreSQL. Sequence numbers are BIGINT
on PostgreSQL and INTEGER on SQLite (64-bit there, and the rowid), so a database create_all made is exactly this
revision and is adopted by stamping it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("epoch", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(128), nullable=False),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_pem", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("verify_until", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "sessions",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_active_at", sa.Double(), nullable=False),
        sa.Column("auth_time", sa.Double(), nullable=False),
        sa.Column("acr", sa.String(128), nullable=False),
        sa.Column("amr", sa.String(256), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"]),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("family"),
    )
    op.create_index("ix_sessions_user_state", "sessions", ["user_id", "state"])
    op.create_index("ix_sessions_ip_state", "sessions", ["ip", "state"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rotated_at", sa.Double(), nullable=True),
        sa.Column("successor", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["sid"], ["sessions.sid"]),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_refresh_sid", "refresh_tokens", ["sid"])
    op.create_table(
        "revocations",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", SEQ, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "revocations", "refresh_tokens", "sessions", "signing_keys", "users"):
        op.drop_table(table)
