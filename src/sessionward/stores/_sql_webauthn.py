"""WebAuthn in SQL: registered authenticators, single-use ceremony challenges, and resetting every factor.

A challenge is taken once (a delete that only one transaction wins) and only before it expires; a signature
counter only moves forward (compare-and-set), so a cloned authenticator's stale count is refused on any node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from sessionward.core.audit import AuditEvent
from sessionward.core.models import Session, WebAuthnCredential
from sessionward.stores import schema as t
from sessionward.stores._sql_mfa import SqlMfa, has_any_factor
from sessionward.stores._sql_sessions import _active

_wc, _wch, _f, _rc, _s = t.webauthn_credentials, t.webauthn_challenges, t.mfa_factors, t.recovery_codes, t.sessions

# A user never holds more live challenges than this: older ones go as new ones come (a bound on storage).
MAX_CHALLENGES_PER_USER = 20


def _credential(row: Any) -> WebAuthnCredential:
    return WebAuthnCredential(
        row.credential_id,
        row.user_id,
        bytes(row.public_key),
        int(row.sign_count),
        row.name,
        row.created_at,
        row.last_used_at,
    )


class SqlWebAuthn(SqlMfa):
    # -- challenges ----------------------------------------------------------------------------------------

    async def create_webauthn_challenge(
        self, challenge_hash: str, user_id: str, purpose: str, expires_at: float, at: float
    ) -> None:
        def run(conn: Connection) -> None:
            conn.execute(delete(_wch).where(_wch.c.user_id == user_id, _wch.c.expires_at <= at))
            live = conn.execute(
                select(_wch.c.challenge_hash).where(_wch.c.user_id == user_id).order_by(_wch.c.expires_at.desc())
            ).all()
            stale = [row.challenge_hash for row in live[MAX_CHALLENGES_PER_USER - 1 :]]
            if stale:
                conn.execute(delete(_wch).where(_wch.c.challenge_hash.in_(stale)))
            conn.execute(
                insert(_wch).values(
                    challenge_hash=challenge_hash, user_id=user_id, purpose=purpose, expires_at=expires_at
                )
            )

        await self._write(run)

    async def take_webauthn_challenge(self, challenge_hash: str, user_id: str, purpose: str, at: float) -> bool:
        """True once: the challenge was issued to `user_id` for `purpose` and has not expired. Taken either way."""

        def run(conn: Connection) -> bool:
            row = conn.execute(select(_wch).where(_wch.c.challenge_hash == challenge_hash).with_for_update()).first()
            if row is None:
                return False
            conn.execute(delete(_wch).where(_wch.c.challenge_hash == challenge_hash))
            return bool(row.user_id == user_id and row.purpose == purpose and row.expires_at > at)

        return await self._write(run)

    # -- credentials ---------------------------------------------------------------------------------------

    async def list_webauthn_credentials(self, user_id: str) -> list[WebAuthnCredential]:
        query = select(_wc).where(_wc.c.user_id == user_id).order_by(_wc.c.created_at)
        return [_credential(row) for row in await self._read(lambda conn: conn.execute(query).all())]

    async def get_webauthn_credential(self, credential_id: str) -> WebAuthnCredential | None:
        query = select(_wc).where(_wc.c.credential_id == credential_id)
        row = await self._read(lambda conn: conn.execute(query).first())
        return _credential(row) if row else None

    async def add_webauthn_credential(
        self,
        credential: WebAuthnCredential,
        code_hashes: Sequence[str],
        keep_sid: str | None,
        audit: Sequence[AuditEvent],
        at: float,
        *,
        end_others: bool = True,
    ) -> list[Session] | None:
        """Registers the authenticator, sets `code_hashes` as the recovery codes when given, and ends the
        user's other sessions (unless `end_others` is False). None when the credential id is registered already
        (to anyone)."""

        # Insert-if-absent in one statement: of two registrations of one id at once, one inserts and the other
        # (waiting for it on PostgreSQL) inserts nothing and gets None, never a primary-key error.
        register = (
            self._insert(_wc)
            .values(
                credential_id=credential.credential_id,
                user_id=credential.user_id,
                public_key=credential.public_key,
                sign_count=credential.sign_count,
                name=credential.name,
                created_at=credential.created_at,
                last_used_at=None,
            )
            .on_conflict_do_nothing(index_elements=[_wc.c.credential_id])
            .returning(_wc.c.credential_id)
        )

        def run(conn: Connection) -> list[Session] | None:
            if conn.execute(register).first() is None:
                return None
            if code_hashes:
                self._set_recovery_codes(conn, credential.user_id, code_hashes, at)
            ended = self._end_others(conn, credential.user_id, keep_sid, at) if end_others else []
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    async def use_webauthn_credential(
        self, credential_id: str, user_id: str, seen_count: int, new_count: int, audit: Sequence[AuditEvent], at: float
    ) -> bool:
        """Records a verified assertion: only while the stored count is still `seen_count` (no other node
        accepted a signature meanwhile). Authenticators that keep no counter report 0 every time."""

        accept = (
            update(_wc)
            .where(_wc.c.credential_id == credential_id, _wc.c.user_id == user_id, _wc.c.sign_count == seen_count)
            .values(sign_count=new_count, last_used_at=at)
        )
        return await self._accept_once(accept, audit, at)

    async def remove_webauthn_credential(
        self, user_id: str, credential_id: str, keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None:
        """Removes one of the user's authenticators and ends their other sessions. None: no such credential.
        The recovery codes go with the last factor."""

        def run(conn: Connection) -> list[Session] | None:
            gone = conn.execute(
                delete(_wc).where(_wc.c.credential_id == credential_id, _wc.c.user_id == user_id)
            ).rowcount
            if not gone:
                return None
            return self._factor_removed(conn, user_id, keep_sid, audit, at)

        return await self._write(run)

    # -- every factor --------------------------------------------------------------------------------------

    async def replace_recovery_codes(
        self, user_id: str, code_hashes: Sequence[str], keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None:
        """New recovery codes in place of the old ones, only while the user has a factor they stand in for; the
        user's other sessions end, as with any factor change. None: the user has no factor."""

        def run(conn: Connection) -> list[Session] | None:
            if not has_any_factor(conn, user_id):
                return None
            self._set_recovery_codes(conn, user_id, code_hashes, at)
            ended = self._end_others(conn, user_id, keep_sid, at)
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    async def has_second_factor(self, user_id: str) -> bool:
        return await self._read(lambda conn: has_any_factor(conn, user_id))

    async def reset_factors(self, user_id: str, audit: Sequence[AuditEvent], at: float) -> list[Session]:
        """A lost factor: removes every factor of the user (TOTP, WebAuthn, recovery codes, open challenges) and
        ends all of the user's sessions, in one transaction."""

        def run(conn: Connection) -> list[Session]:
            conn.execute(delete(_rc).where(_rc.c.user_id == user_id))
            conn.execute(delete(_f).where(_f.c.user_id == user_id))
            conn.execute(delete(_wc).where(_wc.c.user_id == user_id))
            conn.execute(delete(_wch).where(_wch.c.user_id == user_id))
            sessions = _active(conn, _s.c.user_id == user_id)
            ended = self._end(conn, [(s, "mfa_reset", "admin") for s in sessions], at)
            self._append(conn, audit, at)
            return ended

        return await self._write(run)
