"""Second factors in SQL: TOTP factors, recovery codes, login MFA challenges, and a session's step-up.

Every acceptance is a compare-and-set in one statement, so two nodes never accept the same thing twice: a TOTP
time step only if it is newer than the last one accepted, a recovery code only while unused, an mfa_token only
while pending and unexpired.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Update, delete, insert, select, update

from sessionward.core.audit import AuditEvent
from sessionward.core.models import MfaChallenge, RefreshToken, Session, TotpFactor
from sessionward.stores import schema as t
from sessionward.stores._sql_keyed import SqlKeyed
from sessionward.stores._sql_secrets import totp_purpose
from sessionward.stores._sql_sessions import SqlSessions, _active, _session_from_row

_f, _rc, _ch, _s, _rt = t.mfa_factors, t.recovery_codes, t.mfa_challenges, t.sessions, t.refresh_tokens


def has_any_factor(conn: Connection, user_id: str) -> bool:
    """A confirmed TOTP secret or a registered WebAuthn authenticator."""
    totp = conn.execute(select(_f.c.user_id).where(_f.c.user_id == user_id, _f.c.secret.is_not(None))).first()
    wc = t.webauthn_credentials
    key = conn.execute(select(wc.c.credential_id).where(wc.c.user_id == user_id).limit(1)).first()
    return totp is not None or key is not None


def _challenge(row: Any) -> MfaChallenge:
    return MfaChallenge(
        row.token_hash,
        row.user_id,
        row.client_id,
        row.ip,
        row.user_agent,
        bool(row.revoke_others),
        row.password_digest,
        row.created_at,
        row.expires_at,
        int(row.failures),
        row.state,
    )


class SqlMfa(SqlSessions, SqlKeyed):
    async def _accept_once(self, compare_and_set: Update, audit: Sequence[AuditEvent], at: float) -> bool:
        """Runs a compare-and-set UPDATE; True (and the audit written with it) only when it matched a row."""

        def run(conn: Connection) -> bool:
            done = bool(conn.execute(compare_and_set).rowcount)
            if done:
                self._append(conn, audit, at)
            return done

        return await self._write(run)

    def _set_recovery_codes(self, conn: Connection, user_id: str, code_hashes: Sequence[str], at: float) -> None:
        """The user's recovery codes become `code_hashes`: every old one goes, used or not."""
        conn.execute(delete(_rc).where(_rc.c.user_id == user_id))
        if code_hashes:
            conn.execute(insert(_rc), [{"code_hash": h, "user_id": user_id, "created_at": at} for h in code_hashes])

    def _factor_removed(
        self, conn: Connection, user_id: str, keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        """After a factor went: the recovery codes go with the last factor, and the user's other sessions end."""
        if not has_any_factor(conn, user_id):
            conn.execute(delete(_rc).where(_rc.c.user_id == user_id))
        ended = self._end_others(conn, user_id, keep_sid, at)
        self._append(conn, audit, at)
        return ended

    def _end_others(self, conn: Connection, user_id: str, keep_sid: str | None, at: float) -> list[Session]:
        sessions = _active(conn, _s.c.user_id == user_id)
        return self._end(conn, [(s, "mfa_changed", "user") for s in sessions if s.sid != keep_sid], at)

    # -- TOTP ----------------------------------------------------------------------------------------------
    # The secrets are stored encrypted under the key-encryption key and handed out decrypted; a compare-and-set
    # on one locks the row, decrypts it, and compares in constant time.

    def _totp_secret(self, user_id: str, sealed: str | None) -> str | None:
        return None if sealed is None else self._open_secret(sealed, totp_purpose(user_id)).decode("utf-8")

    def _factor(self, row: Any) -> TotpFactor:
        secret, pending = (self._totp_secret(row.user_id, v) for v in (row.secret, row.pending_secret))
        return TotpFactor(row.user_id, secret, pending, int(row.last_step), row.confirmed_at)

    def _stored_if(self, conn: Connection, user_id: str, column: str, secret: str) -> str | None:
        """The stored (encrypted) value of `column` when it is `secret`, with the row locked; else None."""
        row = conn.execute(select(_f.c[column]).where(_f.c.user_id == user_id).with_for_update()).first()
        stored = row[0] if row else None
        opened = self._totp_secret(user_id, stored)
        if opened is None or not hmac.compare_digest(opened.encode("utf-8"), secret.encode("utf-8")):
            return None
        return str(stored)

    async def get_totp(self, user_id: str) -> TotpFactor | None:
        row = await self._read(lambda conn: conn.execute(select(_f).where(_f.c.user_id == user_id)).first())
        return self._factor(row) if row else None

    async def set_pending_totp(self, user_id: str, secret: str, audit: Sequence[AuditEvent], at: float) -> None:
        """`secret` becomes the user's pending (unconfirmed) TOTP secret, in place of any earlier one; a confirmed
        secret stays until the pending one is confirmed. One upsert: two first enrolments at once both succeed
        (the later one's secret stays pending) instead of one of them failing on the primary key."""

        def run(conn: Connection) -> None:
            sealed = self._seal_secret(conn, secret.encode("utf-8"), totp_purpose(user_id))
            upsert = (
                self._insert(_f)
                .values(user_id=user_id, pending_secret=sealed, last_step=0, created_at=at)
                .on_conflict_do_update(index_elements=[_f.c.user_id], set_={"pending_secret": sealed})
            )
            conn.execute(upsert)
            self._append(conn, audit, at)

        await self._write(run)

    async def confirm_totp(
        self,
        user_id: str,
        pending_secret: str,
        step: int,
        code_hashes: Sequence[str],
        keep_sid: str | None,
        audit: Sequence[AuditEvent],
        at: float,
        *,
        end_others: bool = True,
    ) -> list[Session] | None:
        """Makes the pending secret the factor (only while it is still the pending one), records `step` as used,
        replaces the recovery codes and ends the user's other sessions (unless `end_others` is False). None when
        the pending secret changed."""

        def run(conn: Connection) -> list[Session] | None:
            stored = self._stored_if(conn, user_id, "pending_secret", pending_secret)
            if stored is None:
                return None
            done = conn.execute(
                update(_f)
                .where(_f.c.user_id == user_id, _f.c.pending_secret == stored)
                .values(secret=stored, pending_secret=None, last_step=step, confirmed_at=at)
            ).rowcount
            if not done:
                return None
            self._set_recovery_codes(conn, user_id, code_hashes, at)
            ended = self._end_others(conn, user_id, keep_sid, at) if end_others else []
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    async def use_totp_step(self, user_id: str, secret: str, step: int, audit: Sequence[AuditEvent], at: float) -> bool:
        """Accepts `step` of the factor `secret` only if it is newer than every step accepted before."""

        def run(conn: Connection) -> bool:
            stored = self._stored_if(conn, user_id, "secret", secret)
            if stored is None:
                return False
            accept = (
                update(_f)
                .where(_f.c.user_id == user_id, _f.c.secret == stored, _f.c.last_step < step)
                .values(last_step=step)
            )
            done = bool(conn.execute(accept).rowcount)
            if done:
                self._append(conn, audit, at)
            return done

        return await self._write(run)

    async def remove_totp(
        self, user_id: str, keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None:
        """Removes the factor, and the recovery codes when it was the last factor; ends the user's other
        sessions. None: there was none."""

        def run(conn: Connection) -> list[Session] | None:
            if not conn.execute(delete(_f).where(_f.c.user_id == user_id)).rowcount:
                return None
            return self._factor_removed(conn, user_id, keep_sid, audit, at)

        return await self._write(run)

    # -- recovery codes ------------------------------------------------------------------------------------

    async def use_recovery_code(self, user_id: str, code_hash: str, audit: Sequence[AuditEvent], at: float) -> bool:
        accept = (
            update(_rc)
            .where(_rc.c.code_hash == code_hash, _rc.c.user_id == user_id, _rc.c.used_at.is_(None))
            .values(used_at=at)
        )
        return await self._accept_once(accept, audit, at)

    async def recovery_codes_left(self, user_id: str) -> int:
        query = select(_rc.c.code_hash).where(_rc.c.user_id == user_id, _rc.c.used_at.is_(None))
        return len(await self._read(lambda conn: conn.execute(query).all()))

    # -- login challenges (mfa_token) ----------------------------------------------------------------------

    async def create_mfa_challenge(self, challenge: MfaChallenge, audit: Sequence[AuditEvent], at: float) -> None:
        def run(conn: Connection) -> None:
            # The user's dead challenges go as new ones come: the table stays as small as the live ones.
            conn.execute(delete(_ch).where(_ch.c.user_id == challenge.user_id, _ch.c.expires_at < at))
            conn.execute(
                insert(_ch).values(
                    token_hash=challenge.token_hash,
                    user_id=challenge.user_id,
                    client_id=challenge.client_id,
                    ip=challenge.ip,
                    user_agent=challenge.user_agent,
                    revoke_others=challenge.revoke_others,
                    password_digest=challenge.password_digest,
                    created_at=challenge.created_at,
                    expires_at=challenge.expires_at,
                    failures=challenge.failures,
                    state=challenge.state,
                )
            )
            self._append(conn, audit, at)

        await self._write(run)

    async def get_mfa_challenge(self, token_hash: str) -> MfaChallenge | None:
        row = await self._read(lambda conn: conn.execute(select(_ch).where(_ch.c.token_hash == token_hash)).first())
        return _challenge(row) if row else None

    async def reserve_mfa_attempt(self, token_hash: str, max_attempts: int, at: float) -> int | None:
        """One statement: the row is locked from the WHERE to the SET, so two nodes never both take the last
        attempt; RETURNING answers the count as it is now."""
        reserve = (
            update(_ch)
            .where(
                _ch.c.token_hash == token_hash,
                _ch.c.state == "pending",
                _ch.c.expires_at > at,
                _ch.c.failures < max_attempts,
            )
            .values(failures=_ch.c.failures + 1)
            .returning(_ch.c.failures)
        )
        count = await self._write(lambda conn: conn.execute(reserve).scalar_one_or_none())
        return None if count is None else int(count)

    async def release_mfa_attempt(self, token_hash: str, at: float) -> None:
        release = update(_ch).where(_ch.c.token_hash == token_hash, _ch.c.failures > 0)
        await self._write(lambda conn: conn.execute(release.values(failures=_ch.c.failures - 1)))

    async def burn_mfa_challenge(self, token_hash: str, audit: Sequence[AuditEvent], at: float) -> bool:
        burn = update(_ch).where(_ch.c.token_hash == token_hash, _ch.c.state == "pending").values(state="burned")
        return await self._accept_once(burn, audit, at)

    async def consume_mfa_challenge(self, token_hash: str, at: float) -> bool:
        """Pending and unexpired -> used, once: the one presentation that gets here first wins."""

        def run(conn: Connection) -> bool:
            return bool(
                conn.execute(
                    update(_ch)
                    .where(_ch.c.token_hash == token_hash, _ch.c.state == "pending", _ch.c.expires_at > at)
                    .values(state="used")
                ).rowcount
            )

        return await self._write(run)

    # -- step-up -------------------------------------------------------------------------------------------

    async def elevate_session(
        self,
        sid: str,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
        amr: tuple[str, ...] = ("otp", "mfa"),
    ) -> Session | None:
        """Records a second factor verified now on an active session and rotates its refresh token to `refresh`
        (the one rotated out has no successor to replay; presented after the grace it is reuse). None when the
        session is no longer active."""

        def run(conn: Connection) -> Session | None:
            row = conn.execute(select(_s).where(_s.c.sid == sid, _s.c.state == "active").with_for_update()).first()
            if row is None:
                return None
            conn.execute(
                update(_s).where(_s.c.sid == sid).values(mfa_at=at, last_active_at=at, mfa_amr=json.dumps(list(amr)))
            )
            # Tokens rotated out earlier stay: within their grace they still get their own successor (a tab's
            # retry racing the step-up); the next rotation forgets those past it.
            conn.execute(
                update(_rt)
                .where(_rt.c.sid == sid, _rt.c.state == "current")
                .values(state="rotated", rotated_at=at, successor=None)
            )
            conn.execute(insert(_rt).values(token_hash=refresh.token_hash, sid=sid, created_at=at, state="current"))
            self._append(conn, audit, at)
            return dataclasses.replace(_session_from_row(row), mfa_at=at, last_active_at=at, mfa_amr=amr)

        return await self._write(run)
