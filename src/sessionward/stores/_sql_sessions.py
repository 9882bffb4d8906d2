"""Sessions, refresh-token families and the revocation feed in SQL.

Race behaviour is part of the contract: rotation is a compare-and-set on the token's state, an ended session is
never saved back to life (every update of a session is guarded by state = 'active'), and admission under the
session limits counts and creates inside one transaction that holds the user's row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sessionward.core.audit import AuditEvent
from sessionward.core.events import session_ended
from sessionward.core.limits import Admission
from sessionward.core.models import RefreshToken, Revocation, Session
from sessionward.core.session import SessionTimeouts
from sessionward.errors import Conflict
from sessionward.stores import schema as t
from sessionward.stores._sql_base import SqlBase
from sessionward.stores.base import Admit

REVOCATION_PAGE = 10_000


class _LostRace(Exception):
    """Raised inside a transaction to roll it back when a compare-and-set finds the row changed."""


class SqlSessions(SqlBase):
    # -- reading -------------------------------------------------------------------------------------------

    async def get_session(self, sid: str) -> Session | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.sessions).where(t.sessions.c.sid == sid))).first()
        return _session_from_row(row) if row else None

    async def list_sessions(self, user_id: str) -> list[Session]:
        """The user's sessions not yet ended, oldest first."""
        async with self._engine.connect() as conn:
            return await self._active(conn, t.sessions.c.user_id == user_id)

    async def get_refresh(self, token_hash: str) -> RefreshToken | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(t.refresh_tokens).where(t.refresh_tokens.c.token_hash == token_hash))
            ).first()
        if row is None:
            return None
        return RefreshToken(row.token_hash, row.sid, row.created_at, row.state, row.rotated_at, row.successor)

    async def _active(self, conn: AsyncConnection, where: Any) -> list[Session]:
        query = select(t.sessions).where(where, t.sessions.c.state == "active").order_by(t.sessions.c.created_at)
        return [_session_from_row(r) for r in (await conn.execute(query)).all()]

    # -- ending --------------------------------------------------------------------------------------------

    async def _end(
        self, conn: AsyncConnection, sessions: Sequence[Session], reason: str, by: str, at: float
    ) -> list[Session]:
        """Ends those still active; each gets its audit record and a revocation-feed entry."""
        ended = []
        for s in sessions:
            result = await conn.execute(
                update(t.sessions)
                .where(t.sessions.c.sid == s.sid, t.sessions.c.state == "active")
                .values(state="ended", ended_at=at, end_reason=reason)
            )
            if result.rowcount:
                ended.append(s)
        if ended:
            until = at + self._revocation_ttl
            await conn.execute(
                insert(t.revocations),
                [{"kind": "sid", "subject": s.sid, "value": until, "at": at} for s in ended],
            )
            await self._append(conn, [session_ended(s, reason, by) for s in ended], at)
        return ended

    async def end_sessions(
        self, sids: Sequence[str], reason: str, by: str, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        async with self._engine.begin() as conn:
            sessions = await self._active(conn, t.sessions.c.sid.in_(list(sids)))
            ended = await self._end(conn, sessions, reason, by, at)
            await self._append(conn, audit, at)
        return ended

    async def end_user_sessions(
        self, user_id: str, reason: str, by: str, except_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        async with self._engine.begin() as conn:
            sessions = await self._active(conn, t.sessions.c.user_id == user_id)
            ended = await self._end(conn, [s for s in sessions if s.sid != except_sid], reason, by, at)
            await self._append(conn, audit, at)
        return ended

    async def expire_sessions(self, policies: dict[str, SessionTimeouts], at: float) -> list[Session]:
        """Ends every session its policy has timed out; the sweeper's verb."""
        ended = []
        async with self._engine.begin() as conn:
            for name, policy in policies.items():
                for reason, where in (
                    ("absolute_expired", t.sessions.c.created_at <= at - policy.absolute_timeout),
                    ("idle_expired", t.sessions.c.last_active_at <= at - policy.idle_timeout),
                ):
                    sessions = await self._active(conn, and_(t.sessions.c.policy == name, where))
                    ended += await self._end(conn, sessions, reason, "policy", at)
        return ended

    # -- creating ------------------------------------------------------------------------------------------

    async def _insert_session(self, conn: AsyncConnection, session: Session, refresh: RefreshToken) -> None:
        await conn.execute(insert(t.sessions).values(**_session_row(session)))
        await conn.execute(
            insert(t.refresh_tokens).values(
                token_hash=refresh.token_hash,
                sid=refresh.sid,
                created_at=refresh.created_at,
                state=refresh.state,
                rotated_at=refresh.rotated_at,
            )
        )

    async def create_session(
        self,
        session: Session,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
        admit: Admit | None = None,
        refused_audit: Callable[[Admission], Sequence[AuditEvent]] | None = None,
    ) -> Admission:
        """Creates the session unless `admit` refuses it; the sessions it names end in the same transaction.

        A refused admission still commits the endings of timed-out sessions and `refused_audit`'s records.
        """
        try:
            async with self._engine.begin() as conn:
                admission = Admission()
                if admit is not None:
                    # Hold the user's row: concurrent logins of one user are admitted one at a time.
                    await conn.execute(
                        select(t.users.c.user_id).where(t.users.c.user_id == session.user_id).with_for_update()
                    )
                    mine = await self._active(conn, t.sessions.c.user_id == session.user_id)
                    at_ip = await self._active(conn, t.sessions.c.ip == session.ip)
                    admission = admit(mine, at_ip)
                    known = {s.sid: s for s in (*mine, *at_ip)}
                    for sid, reason in admission.end:
                        by = "policy" if reason.endswith("_expired") else "login"
                        await self._end(conn, [known[sid]], reason, by, at)
                if admission.refused_by is not None:
                    await self._append(conn, refused_audit(admission) if refused_audit else (), at)
                    return admission
                await self._insert_session(conn, session, refresh)
                await self._append(conn, audit, at)
                return admission
        except IntegrityError as exc:
            raise Conflict("the session exists already") from exc

    # -- refresh -------------------------------------------------------------------------------------------

    async def rotate_refresh(
        self, old_hash: str, new: RefreshToken, successor: bytes, audit: Sequence[AuditEvent], at: float
    ) -> bool:
        """Compare-and-set: succeeds only while `old_hash` is current and its session active."""
        try:
            async with self._engine.begin() as conn:
                rotated = await conn.execute(
                    update(t.refresh_tokens)
                    .where(t.refresh_tokens.c.token_hash == old_hash, t.refresh_tokens.c.state == "current")
                    .values(state="rotated", rotated_at=at, successor=successor)
                )
                if not rotated.rowcount:
                    raise _LostRace
                touched = await conn.execute(
                    update(t.sessions)
                    .where(t.sessions.c.sid == new.sid, t.sessions.c.state == "active")
                    .values(last_active_at=at)
                )
                if not touched.rowcount:
                    raise _LostRace
                await conn.execute(
                    insert(t.refresh_tokens).values(
                        token_hash=new.token_hash, sid=new.sid, created_at=new.created_at, state="current"
                    )
                )
                await self._append(conn, audit, at)
        except _LostRace:
            return False
        return True

    # -- password change -----------------------------------------------------------------------------------

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        epoch: float,
        session: Session,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
    ) -> list[Session]:
        """New hash, new epoch, every session ended and a fresh one created: all or nothing."""
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.users).where(t.users.c.user_id == user_id).values(password_hash=password_hash, epoch=epoch)
            )
            sessions = await self._active(conn, t.sessions.c.user_id == user_id)
            ended = await self._end(conn, sessions, "password_changed", "user", at)
            await conn.execute(insert(t.revocations).values(kind="epoch", subject=user_id, value=epoch, at=at))
            await self._insert_session(conn, session, refresh)
            await self._append(conn, audit, at)
        return ended

    # -- the revocation feed -------------------------------------------------------------------------------

    async def revocations_since(self, seq: int, now: float) -> list[Revocation]:
        """Entries after `seq` that still matter at `now` (epochs always do)."""
        r = t.revocations.c
        query = (
            select(t.revocations)
            .where(r.seq > seq, or_(r.kind == "epoch", r.value > now))
            .order_by(r.seq)
            .limit(REVOCATION_PAGE)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Revocation(row.seq, row.kind, row.subject, row.value) for row in rows]


def _session_row(s: Session) -> dict[str, Any]:
    return {
        "sid": s.sid,
        "user_id": s.user_id,
        "client_id": s.client_id,
        "policy": s.policy,
        "created_at": s.created_at,
        "last_active_at": s.last_active_at,
        "auth_time": s.auth_time,
        "acr": s.acr,
        "amr": json.dumps(list(s.amr)),
        "ip": s.ip,
        "user_agent": s.user_agent,
        "state": s.state,
        "ended_at": s.ended_at,
        "end_reason": s.end_reason,
    }


def _session_from_row(row: Any) -> Session:
    return Session(
        sid=row.sid,
        user_id=row.user_id,
        client_id=row.client_id,
        policy=row.policy,
        created_at=row.created_at,
        last_active_at=row.last_active_at,
        auth_time=row.auth_time,
        acr=row.acr,
        amr=tuple(json.loads(row.amr)),
        ip=row.ip,
        user_agent=row.user_agent,
        state=row.state,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )
