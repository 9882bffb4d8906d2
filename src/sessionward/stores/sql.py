"""The durable store over SQLAlchemy: SQLite (WAL) in the data dir by default, PostgreSQL (psycopg 3) for
several nodes.

    SqlStore(url, revocation_ttl, *, pool_size=DEFAULT_POOL_SIZE)

`url` is the configured database URL (postgresql:// and postgres:// use psycopg 3); `pool_size` is
[storage] pool_size, the connections the store keeps and so its concurrent transactions. `initialize()` brings
the schema to the newest migration; `unlock(keks, now)` opens the secrets at rest with the key-encryption key
(signing keys and TOTP secrets are stored encrypted, and handed to callers decrypted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from sessionward.core.audit import AuditEvent
from sessionward.core.models import StoredKey, User
from sessionward.core.names import fold_username
from sessionward.errors import Conflict
from sessionward.stores import schema as t
from sessionward.stores._sql_base import DEFAULT_POOL_SIZE, PoolPlan, engine_url, sqlite_url
from sessionward.stores._sql_secrets import key_purpose
from sessionward.stores._sql_sessions import REVOCATION_PAGE
from sessionward.stores._sql_webauthn import SqlWebAuthn

__all__ = ["DEFAULT_POOL_SIZE", "REVOCATION_PAGE", "PoolPlan", "SqlStore", "engine_url", "sqlite_url"]


def _user(row: Any) -> User:
    return User(row.user_id, row.username, row.password_hash, bool(row.is_admin), row.created_at, row.epoch)


class SqlStore(SqlWebAuthn):
    # -- users ---------------------------------------------------------------------------------------------

    async def create_user(self, user: User, audit: Sequence[AuditEvent], at: float) -> None:
        def run(conn: Connection) -> None:
            conn.execute(
                insert(t.users).values(
                    user_id=user.user_id,
                    username=user.username,
                    username_folded=fold_username(user.username),
                    password_hash=user.password_hash,
                    is_admin=user.is_admin,
                    created_at=user.created_at,
                    epoch=user.epoch,
                )
            )
            self._append(conn, audit, at)

        try:
            await self._write(run)
        except IntegrityError as exc:
            taken = await self.get_user_by_name(user.username)
            name = taken.username if taken else user.username
            alike = f": {user.username!r} differs from it only in case" if name != user.username else ""
            raise Conflict(f"the user {name!r} exists already{alike} (usernames are one whatever their case)") from exc

    async def _one_user(self, where: Any) -> User | None:
        row = await self._read(lambda conn: conn.execute(select(t.users).where(where)).first())
        return _user(row) if row else None

    async def list_users(self) -> list[User]:
        rows = await self._read(lambda conn: conn.execute(select(t.users).order_by(t.users.c.username)).all())
        return [_user(r) for r in rows]

    async def get_user_by_name(self, username: str) -> User | None:
        """The user whose name folds like `username` (core.names.fold_username): `Alice` finds alice."""
        return await self._one_user(t.users.c.username_folded == fold_username(username))

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user(t.users.c.user_id == user_id)

    async def set_password_hash(
        self, user_id: str, password_hash: str, audit: Sequence[AuditEvent], at: float, replaces: str | None = None
    ) -> bool:
        """With `replaces`, a compare-and-set: nothing changes (False) if the hash is no longer that one."""

        def run(conn: Connection) -> bool:
            where = [t.users.c.user_id == user_id]
            if replaces is not None:
                where.append(t.users.c.password_hash == replaces)
            if not conn.execute(update(t.users).where(*where).values(password_hash=password_hash)).rowcount:
                return False
            self._append(conn, audit, at)
            return True

        return await self._write(run)

    # -- keys ----------------------------------------------------------------------------------------------

    async def list_keys(self) -> list[StoredKey]:
        rows = await self._read(
            lambda conn: conn.execute(select(t.signing_keys).order_by(t.signing_keys.c.created_at)).all()
        )
        return [
            StoredKey(
                r.kid,
                r.alg,
                self._open_secret(bytes(r.private_pem).decode("ascii", "replace"), key_purpose(r.kid)),
                r.created_at,
                r.state,
                r.verify_until,
            )
            for r in rows
        ]

    async def add_key(
        self, key: StoredKey, retire: Sequence[tuple[str, float]], audit: Sequence[AuditEvent], at: float
    ) -> None:
        def run(conn: Connection) -> None:
            conn.execute(
                insert(t.signing_keys).values(
                    kid=key.kid,
                    alg=key.alg,
                    private_pem=self._seal_secret(conn, key.private_pem, key_purpose(key.kid)).encode("ascii"),
                    created_at=key.created_at,
                    state=key.state,
                    verify_until=key.verify_until,
                )
            )
            for kid, verify_until in retire:
                conn.execute(
                    update(t.signing_keys)
                    .where(t.signing_keys.c.kid == kid)
                    .values(state="retired", verify_until=verify_until)
                )
            self._append(conn, audit, at)

        await self._write(run)
