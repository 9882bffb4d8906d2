"""Sessions, refresh-token families and the revocation feed in SQL.

Race behaviour is part of the contract: rotation is a compare-and-set on the token's state, an ended session is
never saved back to life (every update of a session is guarded by state = 'active'), and admission under the
session limits counts and creates inside one transaction that holds the user's row.

On PostgreSQL (READ COMMITTED) every decision is made on rows the transaction holds: a statement that waited for
a row lock reads the row as committed by the transaction it waited for. Rows are locked in the order _sql_base
describes (user, sessions in sid order, their tokens, the log heads), so no two verbs deadlock.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sessionward.core.audit import AuditEvent
from sessionward.core.events import session_ended
from sessionward.core.limits import Admission
from sessionward.core.models import RefreshToken, Revocation, Session
from sessionward.core.session import SessionTimeouts
from sessionward.errors import Conflict, CredentialsChanged
from sessionward.stores import schema as t
from sessionward.stores._sql_base import SqlBase
from sessionward.stores.base import Admit, Plan, RefreshPlan, RevocationPage

REVOCATION_PAGE = 10_000
# The sweeper ends at most this many sessions per transaction (a round loops, batch after batch), and no statement
# binds more than END_CHUNK sids: PostgreSQL takes at most 65,535 parameters per statement, a stock SQLite 32,766.
SWEEP_BATCH = 1_000
END_CHUNK = 500

# The refresh path's statements, built once (building a statement costs more than running it).
_rt, _s = t.refresh_tokens, t.sessions
_TOKEN_AND_SESSION_READ = (
    select(
        _rt.c.token_hash,
        _rt.c.created_at.label("rt_created_at"),
        _rt.c.state.label("rt_state"),
        _rt.c.rotated_at,
        _rt.c.successor,
        _s,
    )
    .join(_s, _s.c.sid == _rt.c.sid)
    .where(_rt.c.token_hash == bindparam("token_hash"))
)
# The same read holding both rows. PostgreSQL locks the rows of a FOR UPDATE join table by table in FROM order:
# the session first, then the token, the order every other verb takes them in (ending a session updates its row,
# then its tokens'). A presentation that waited reads the token as the winner left it.
_TOKEN_AND_SESSION = (
    select(*_TOKEN_AND_SESSION_READ.selected_columns)
    .select_from(_s)
    .join(_rt, _s.c.sid == _rt.c.sid)
    .where(_rt.c.token_hash == bindparam("token_hash"))
    .with_for_update()
)
_ROTATE = (
    update(_rt)
    .where(_rt.c.token_hash == bindparam("old"), _rt.c.state == "current")
    .values(state="rotated", rotated_at=bindparam("at"), successor=bindparam("successor"))
)
_TOUCH_SESSION = (
    update(_s).where(_s.c.sid == bindparam("touch_sid"), _s.c.state == "active").values(last_active_at=bindparam("at"))
)
# Tokens rotated out before the plan's bound are past their grace: they go (a forgotten token is known by its
# family, as reuse). Those rotated out since stay, each with its own successor, however many rotations followed.
_FORGET_ROTATED_TOKENS = delete(_rt).where(
    _rt.c.sid == bindparam("touch_sid"), _rt.c.state == "rotated", _rt.c.rotated_at < bindparam("before")
)
# Binds an unbound session to a DPoP key (a refresh with a proof); a bound session keeps its key for good.
_BIND_SESSION = (
    update(_s)
    .where(_s.c.sid == bindparam("bind_sid"), _s.c.state == "active", _s.c.dpop_jkt.is_(None))
    .values(dpop_jkt=bindparam("jkt"))
)
_SESSION_OF_FAMILY = select(_s).where(_s.c.family == bindparam("family")).with_for_update()
_INSERT_TOKEN = insert(_rt).values(state="current")
_END_SESSION = (
    update(_s)
    .where(_s.c.sid == bindparam("end_sid"), _s.c.state == "active")
    .values(state="ended", ended_at=bindparam("at"), end_reason=bindparam("reason"))
)

Ending = tuple[Session, str, str]  # the session, the reason, who ends it


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _address_lock_key(ip: str) -> int:
    """A 64-bit advisory-lock key for logins from one address (PostgreSQL)."""
    digest = hashlib.sha256(b"sessionward.admission.ip\0" + ip.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SqlSessions(SqlBase):
    sweep_batch = SWEEP_BATCH  # overridable per store (tests lower them)
    end_chunk = END_CHUNK
    # -- reading -------------------------------------------------------------------------------------------

    async def get_session(self, sid: str) -> Session | None:
        row = await self._read(lambda conn: conn.execute(select(t.sessions).where(t.sessions.c.sid == sid)).first())
        return _session_from_row(row) if row else None

    async def list_sessions(self, user_id: str) -> list[Session]:
        """The user's sessions not yet ended, oldest first."""
        return await self._read(lambda conn: _active(conn, t.sessions.c.user_id == user_id))

    async def get_refresh(self, token_hash: str) -> RefreshToken | None:
        found = await self.get_refresh_and_session(token_hash)
        return found[0] if found else None

    async def get_refresh_and_session(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        row = await self._read(lambda conn: conn.execute(_TOKEN_AND_SESSION_READ, {"token_hash": token_hash}).first())
        return _token_and_session(row) if row else None

    # -- ending --------------------------------------------------------------------------------------------

    def _end(self, conn: Connection, endings: Sequence[Ending], at: float) -> list[Session]:
        """Ends those still active (the first ending named for a session wins); each gets its audit record and a
        revocation-feed entry. Returns the sessions ended, in the order given.

        The rows are updated in sid order, so two transactions that end overlapping sets never deadlock.
        """
        wanted: dict[str, Ending] = {}
        for ending in endings:
            wanted.setdefault(ending[0].sid, ending)
        done = {
            sid
            for sid in sorted(wanted)
            if conn.execute(_END_SESSION, {"end_sid": sid, "at": at, "reason": wanted[sid][1]}).rowcount
        }
        ended = [ending for sid, ending in wanted.items() if sid in done]
        if ended:
            until = at + self._revocation_ttl
            for s, _, _ in ended:
                self._revoke(conn, "sid", s.sid, until, at)
            # Nothing can refresh an ended session: its successor blobs serve no one any more.
            for chunk in _chunks(sorted(done), self.end_chunk):
                conn.execute(update(t.refresh_tokens).where(t.refresh_tokens.c.sid.in_(chunk)).values(successor=None))
            self._append(conn, [session_ended(s, reason, by) for s, reason, by in ended], at)
        return [s for s, _, _ in ended]

    async def end_sessions(
        self, sids: Sequence[str], reason: str, by: str, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        def run(conn: Connection) -> list[Session]:
            chunks = _chunks(list(dict.fromkeys(sids)), self.end_chunk)
            found = [s for chunk in chunks for s in _active(conn, t.sessions.c.sid.in_(chunk))]
            sessions = sorted(found, key=lambda s: s.created_at)  # oldest first, as one query would give them
            ended = self._end(conn, [(s, reason, by) for s in sessions], at)
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    async def end_user_sessions(
        self, user_id: str, reason: str, by: str, except_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        def run(conn: Connection) -> list[Session]:
            sessions = _active(conn, t.sessions.c.user_id == user_id)
            ended = self._end(conn, [(s, reason, by) for s in sessions if s.sid != except_sid], at)
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    async def expire_sessions(self, policies: dict[str, SessionTimeouts], at: float) -> list[Session]:
        """Ends every session its policy has timed out; the sweeper's verb. Returns all the sessions it ended.

        In batches of `sweep_batch`, each its own transaction, in sid order, until a batch comes back short: a
        round that must end more sessions than one statement can name still ends them all, and no batch holds
        more rows than that. Each batch is one query for every policy, locking its rows in sid order (the lock
        order of every verb): on PostgreSQL a refresh that commits while the sweeper waits for its row is seen,
        and its session is not ended as idle (it drops out of the batch)."""
        if not policies:
            return []
        batch = max(1, self.sweep_batch)
        c = t.sessions.c
        timed_out = or_(
            *(
                and_(
                    c.policy == name,
                    or_(c.created_at <= at - p.absolute_timeout, c.last_active_at <= at - p.idle_timeout),
                )
                for name, p in policies.items()
            )
        )

        def run(after: str | None, conn: Connection) -> tuple[list[Session], str | None, int]:
            where = [c.state == "active", timed_out] + ([c.sid > after] if after is not None else [])
            query = select(t.sessions).where(*where).order_by(c.sid).limit(batch).with_for_update()
            endings: list[Ending] = []
            for session in (_session_from_row(r) for r in conn.execute(query).all()):
                policy = policies[session.policy]
                absolute = session.created_at <= at - policy.absolute_timeout
                endings.append((session, "absolute_expired" if absolute else "idle_expired", "policy"))
            last = endings[-1][0].sid if endings else None
            return self._end(conn, endings, at), last, len(endings)

        ended: list[Session] = []
        after: str | None = None
        while True:
            done, last, selected = await self._write(functools.partial(run, after))
            ended += done
            if selected < batch or last is None:
                return ended
            after = last  # each batch starts past the last one's sids: a round always ends

    async def purge(self, ended_before: float, now: float) -> int:
        """Forgets sessions that ended before `ended_before` (the audit trail keeps their story) and feed
        entries no node needs any more. Returns how many sessions went."""

        def run(conn: Connection) -> int:
            old = select(_s.c.sid).where(_s.c.state == "ended", _s.c.ended_at < ended_before)
            # Sessions before their tokens, in sid order, like every other verb (a late refresh holds both).
            conn.execute(old.order_by(_s.c.sid).with_for_update()).all()
            conn.execute(delete(_rt).where(_rt.c.sid.in_(old)))
            gone = conn.execute(delete(_s).where(_s.c.state == "ended", _s.c.ended_at < ended_before)).rowcount
            r = t.revocations.c
            conn.execute(delete(t.revocations).where(r.kind == "sid", r.value < now))
            # A user's epoch matters while a token issued before it may live: revocation_ttl after it.
            conn.execute(delete(t.revocations).where(r.kind == "epoch", r.value < now - self._revocation_ttl))
            return gone

        return await self._write(run)

    # -- creating ------------------------------------------------------------------------------------------

    async def create_session(
        self,
        session: Session,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
        admit: Admit | None = None,
        refused_audit: Callable[[Admission], Sequence[AuditEvent]] | None = None,
        verified_hash: str | None = None,
    ) -> Admission:
        """Creates the session unless `admit` refuses it; the sessions it names end in the same transaction.

        A refused admission still commits the endings of timed-out sessions and `refused_audit`'s records.
        """

        def run(conn: Connection) -> Admission:
            admission = Admission()
            if admit is not None or verified_hash is not None:
                # Hold the user's row: concurrent logins of one user are admitted one at a time, and a password
                # change cannot commit between this check and the new session.
                user = conn.execute(
                    select(t.users.c.password_hash).where(t.users.c.user_id == session.user_id).with_for_update()
                ).first()
                if verified_hash is not None and (user is None or user.password_hash != verified_hash):
                    raise CredentialsChanged("the password changed while this login was being checked")
            if admit is not None:
                # On PostgreSQL, logins from one address are admitted one at a time too (the address's limit).
                if conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(_address_lock_key(session.ip))))
                mine = _active(conn, t.sessions.c.user_id == session.user_id)
                at_ip = _active(conn, t.sessions.c.ip == session.ip)
                admission = admit(mine, at_ip)
                known = {s.sid: s for s in (*mine, *at_ip)}
                endings = [
                    (known[sid], reason, "policy" if reason.endswith("_expired") else "login")
                    for sid, reason in admission.end
                ]
                self._end(conn, endings, at)
            if admission.refused_by is not None:
                self._append(conn, refused_audit(admission) if refused_audit else (), at)
                return admission
            _insert_session(conn, session, refresh)
            self._append(conn, audit, at)
            return admission

        try:
            return await self._write(run)
        except IntegrityError as exc:
            raise Conflict("the session exists already") from exc

    # -- refresh -------------------------------------------------------------------------------------------

    async def refresh(self, token_hash: str, family: str | None, plan: Plan, at: float) -> RefreshPlan:
        def run(conn: Connection) -> RefreshPlan:
            row = conn.execute(_TOKEN_AND_SESSION, {"token_hash": token_hash}).first()
            token, session = _token_and_session(row) if row else (None, None)
            if row is None and family is not None:
                found = conn.execute(_SESSION_OF_FAMILY, {"family": family}).first()
                if found is not None:
                    session = _session_from_row(found)
                    token = RefreshToken(token_hash, session.sid, session.created_at, "rotated", None)
            decided = plan(token, session)
            if session is not None and decided.end_reason is not None:
                self._end(conn, [(session, decided.end_reason, decided.ended_by)], at)
            if session is not None and decided.rotate_to is not None:
                new = decided.rotate_to
                if not conn.execute(_ROTATE, {"old": token_hash, "at": at, "successor": decided.successor}).rowcount:
                    raise RuntimeError("refresh token changed inside its own transaction")
                conn.execute(_TOUCH_SESSION, {"touch_sid": new.sid, "at": at})
                if decided.bind_jkt is not None:
                    conn.execute(_BIND_SESSION, {"bind_sid": new.sid, "jkt": decided.bind_jkt})
                if (before := decided.forget_rotated_before) is not None:
                    conn.execute(_FORGET_ROTATED_TOKENS, {"touch_sid": new.sid, "before": before})
                conn.execute(_INSERT_TOKEN, {"token_hash": new.token_hash, "sid": new.sid, "created_at": at})
            self._append(conn, decided.audit, at)
            return decided

        return await self._write(run)

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

        def run(conn: Connection) -> list[Session]:
            conn.execute(
                update(t.users).where(t.users.c.user_id == user_id).values(password_hash=password_hash, epoch=epoch)
            )
            sessions = _active(conn, t.sessions.c.user_id == user_id)
            ended = self._end(conn, [(s, "password_changed", "user") for s in sessions], at)
            self._revoke(conn, "epoch", user_id, epoch, at)
            _insert_session(conn, session, refresh)
            self._append(conn, audit, at)
            return ended

        return await self._write(run)

    # -- the revocation feed -------------------------------------------------------------------------------

    async def revocations_since(self, seq: int, now: float) -> RevocationPage:
        """Entries after `seq` that still matter at `now`, oldest first: an ended session's id until its `value`;
        a user's epoch until `purge` drops it (once no token issued before it can live). `scanned_to` is the
        highest seq read, the expired entries skipped included, so a reader moves past them instead of
        rescanning them every poll until `purge` drops them.

        Never misses one: entries are numbered in commit order (`_write_logs` takes the numbers from
        revocation_head and holds that row until the commit), so once any entry numbered N is visible, every
        entry below N is too, and a caller that keeps `cursor = scanned_to` has seen all of them. (A SERIAL
        number, taken at insert, could commit after a higher one had been read and be skipped for good; an
        overlap window on `at` would lean on clocks and commit latency instead.) Skipping an expired entry is
        safe for good: an ended session's id stops mattering at its `value` and `now` only moves forward."""
        r = t.revocations.c
        query = select(r.seq, r.kind, r.subject, r.value).where(r.seq > seq).order_by(r.seq).limit(REVOCATION_PAGE)
        rows = await self._read(lambda conn: conn.execute(query).all())
        entries = [
            Revocation(row.seq, row.kind, row.subject, row.value)
            for row in rows
            if row.kind == "epoch" or row.value > now
        ]
        scanned_to = rows[-1].seq if rows else seq
        return RevocationPage(entries, scanned_to, full=len(rows) >= REVOCATION_PAGE)


def _token_and_session(row: Any) -> tuple[RefreshToken, Session]:
    token = RefreshToken(row.token_hash, row.sid, row.rt_created_at, row.rt_state, row.rotated_at, row.successor)
    return token, _session_from_row(row)


def _active(conn: Connection, where: Any) -> list[Session]:
    query = select(t.sessions).where(where, t.sessions.c.state == "active").order_by(t.sessions.c.created_at)
    return [_session_from_row(r) for r in conn.execute(query).all()]


def _insert_session(conn: Connection, session: Session, refresh: RefreshToken) -> None:
    conn.execute(insert(t.sessions).values(**_session_row(session)))
    conn.execute(
        insert(t.refresh_tokens).values(
            token_hash=refresh.token_hash,
            sid=refresh.sid,
            created_at=refresh.created_at,
            state=refresh.state,
            rotated_at=refresh.rotated_at,
        )
    )


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
        "family": s.family,
        "mfa_at": s.mfa_at,
        "dpop_jkt": s.dpop_jkt,
        "mfa_amr": json.dumps(list(s.mfa_amr)) if s.mfa_amr else None,
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
        family=row.family,
        mfa_at=row.mfa_at,
        dpop_jkt=row.dpop_jkt,
        mfa_amr=tuple(json.loads(row.mfa_amr)) if row.mfa_amr else (),
    )
