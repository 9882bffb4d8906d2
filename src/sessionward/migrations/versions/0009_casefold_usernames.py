"""Usernames unique whatever their case: users.username_folded (NFKC + case folding) with a unique index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Existing names are folded here, in Python (no SQL function does NFKC case folding). A database that already
holds two names folding alike (`Alice` and `alice`) cannot take the index: the upgrade stops, changing nothing,
and names every such group of users so the operator can rename all but one and start again.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from sessionward.errors import Conflict

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

MAX_GROUPS_NAMED = 20
_HOW_TO_RENAME = (
    "Rename all but one user of each group in the users table (set username to a new name for that user_id) "
    "and start again; nothing was changed"
)

_users = sa.table(
    "users",
    sa.column("user_id", sa.String()),
    sa.column("username", sa.String()),
    sa.column("username_folded", sa.Text()),
)


def _fold(name: str) -> str:
    """sessionward.core.names.fold_username, frozen here as this revision applied it."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def clash_message(groups: list[list[tuple[str, str]]]) -> str:
    """The refusal naming each group of (user_id, username) whose names fold alike."""
    shown = [", ".join(f"{name!r} (user_id {user_id})" for user_id, name in group) for group in groups]
    more = f"; and {len(groups) - MAX_GROUPS_NAMED} more groups" if len(groups) > MAX_GROUPS_NAMED else ""
    groups_text = "; ".join(shown[:MAX_GROUPS_NAMED])
    return (
        "cannot make usernames unique whatever their case (migration 0009): these users' names differ only in "
        f"case or width: {groups_text}{more}. " + _HOW_TO_RENAME
    )


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_users.c.user_id, _users.c.username).order_by(_users.c.username)).all()
    by_fold: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for user_id, username in rows:
        by_fold[_fold(username)].append((user_id, username))
    clashes = [group for group in by_fold.values() if len(group) > 1]
    if clashes:
        raise Conflict(clash_message(clashes))  # before any change; the upgrade's transaction rolls back anyway
    op.add_column("users", sa.Column("username_folded", sa.Text(), nullable=True))
    if rows:
        conn.execute(
            sa.update(_users).where(_users.c.user_id == sa.bindparam("uid")).values(username_folded=sa.bindparam("f")),
            [{"uid": user_id, "f": folded} for folded, group in by_fold.items() for user_id, _name in group],
        )
    op.create_index("ux_users_username_folded", "users", ["username_folded"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_username_folded", "users")
    with op.batch_alter_table("users") as batch:  # SQLite drops a column by copying the table
        batch.drop_column("username_folded")
