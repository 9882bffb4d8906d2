"""The durable store over SQLAlchemy: SQLite (WAL) in the data dir by default, or PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from sessionward.core.audit import AuditEvent
from sessionward.core.models import StoredKey, User
from sessionward.errors import Conflict
from sessionward.stores import schema as t
from sessionward.stores._sql_base import sqlite_url
from sessionward.stores._sql_sessions import REVOCATION_PAGE, SqlSessions

__all__ = ["REVOCATION_PAGE", "SqlStore", "sqlite_url"]


class SqlStore(SqlSessions):
    # -- users ---------------------------------------------------------------------------------------------

    async def create_user(self, user: User, audit: Sequence[AuditEvent], at: float) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(t.users).values(
                        user_id=user.user_id,
                        username=user.username,
                        password_hash=user.password_hash,
                        is_admin=user.is_admin,
                        created_at=user.created_at,
                        epoch=user.epoch,
                    )
                )
                await self._append(conn, audit, at)
        except IntegrityError as exc:
            raise Conflict(f"the user {user.username!r} exists already") from exc

    async def _one_user(self, where: Any) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(where))).first()
        if row is None:
            return None
        return User(row.user_id, row.username, row.password_hash, bool(row.is_admin), row.created_at, row.epoch)

    async def list_users(self) -> list[User]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.users).order_by(t.users.c.username))).all()
        return [User(r.user_id, r.username, r.password_hash, bool(r.is_admin), r.created_at, r.epoch) for r in rows]

    async def get_user_by_name(self, username: str) -> User | None:
        return await self._one_user(t.users.c.username == username)

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user(t.users.c.user_id == user_id)

    async def set_password_hash(self, user_id: str, password_hash: str, audit: Sequence[AuditEvent], at: float) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(t.users).where(t.users.c.user_id == user_id).values(password_hash=password_hash))
            await self._append(conn, audit, at)

    # -- keys ----------------------------------------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.signing_keys).order_by(t.signing_keys.c.created_at))).all()
        return [StoredKey(r.kid, r.alg, bytes(r.private_pem), r.created_at, r.state, r.verify_until) for r in rows]

    async def add_key(
        self, key: StoredKey, retire: Sequence[tuple[str, float]], audit: Sequence[AuditEvent], at: float
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(t.signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_pem=key.private_pem,
                    created_at=key.created_at,
                    state=key.state,
                    verify_until=key.verify_until,
                )
            )
            for kid, verify_until in retire:
                await conn.execute(
                    update(t.signing_keys)
                    .where(t.signing_keys.c.kid == kid)
                    .values(state="retired", verify_until=verify_until)
                )
            await self._append(conn, audit, at)
