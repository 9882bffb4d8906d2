"""Refresh, listing and ending sessions, password change: every transition audited, every ending immediate."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Literal

from sessionward.clock import Clock
from sessionward.config import PolicySettings, Settings
from sessionward.core.audit import AuditEvent
from sessionward.core.client_auth import RefreshRefusal, refresh_refusal
from sessionward.core.events import session_fields
from sessionward.core.models import RefreshToken, Session
from sessionward.core.refresh import ReplaySuccessor, Rotate, decide_refresh, forget_rotated_before
from sessionward.core.session import is_alive, session_deadline
from sessionward.crypto.seal import seal, unseal
from sessionward.errors import InvalidClient, InvalidGrant, InvalidRequest, NotFound
from sessionward.services.current_password import CurrentPassword
from sessionward.services.passwords import Passwords
from sessionward.services.revocation import RevocationState
from sessionward.services.tokens import (
    IssuedSession,
    TokenService,
    family_of,
    fresh_session,
    new_refresh_token,
    refresh_token_hash,
)
from sessionward.stores.base import DurableStore, RefreshPlan

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class SessionService:
    def __init__(
        self,
        settings: Settings,
        store: DurableStore,
        passwords: Passwords,
        tokens: TokenService,
        revocations: RevocationState,
        clock: Clock,
        current_password: CurrentPassword,
    ) -> None:
        self._current_password = current_password
        self._settings = settings
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock

    def policy(self, session: Session) -> PolicySettings | None:
        return self._settings.policies.get(session.policy)

    def cookie_policy(self, session: Session) -> PolicySettings:
        """The policy whose timeouts a session's cookies carry: its own, or the default one if the configuration
        no longer names it (such a session refreshes no more; its cookies only need a sane Max-Age)."""
        return self._settings.policies.get(session.policy) or self._settings.policies["default"]

    # -- refresh -------------------------------------------------------------------------------------------

    async def refresh(
        self, refresh_token: str, dpop_jkt: str | None = None, authenticated_client: str | None = None
    ) -> IssuedSession:
        """One store transaction reads the token and its session, decides with the core, and writes the outcome;
        signing happens inside it so that two presentations of one token get one and the same successor.

        `dpop_jkt`: the key of a valid DPoP proof sent with the refresh. A bound session is refreshed only with a
        proof by its own key (anything else is refused and changes nothing: the token is useless without the
        key); an unbound one refreshed with a proof is bound to that key from then on (RFC 9449 section 5).

        `authenticated_client`: the client the request authenticated (RFC 6749 section 6), checked before anything
        else so a refused request changes nothing (not even reuse detection); None: none. The cookie paths never
        carry client credentials, so a confidential client's session is refused there too: its CSRF
        token is derived from the refresh-token family, which the token itself carries: a thief holding a
        confidential client's refresh token could otherwise refresh it as a cookie without the secret."""
        now = self._clock.now()

        def plan(stored: RefreshToken | None, session: Session | None) -> RefreshPlan:
            policy = self.policy(session) if session else None
            if stored is None or session is None or policy is None:
                return _rejected("unknown_refresh_token", None)
            settings = self._settings.clients.get(session.client_id)
            confidential = settings is not None and bool(settings.client_secret)
            refusal = refresh_refusal(session.client_id, confidential, authenticated_client)
            if refusal is not None:
                return dataclasses.replace(_rejected(refusal, session), result=_ClientRefused(refusal))
            if session.dpop_jkt is not None and session.dpop_jkt != dpop_jkt:
                return _rejected("dpop_key_mismatch" if dpop_jkt else "dpop_proof_missing", session)
            decision = decide_refresh(stored, session, policy, now)
            if isinstance(decision, Rotate):
                if session.dpop_jkt is None and dpop_jkt is not None:
                    bound = dataclasses.replace(session, dpop_jkt=dpop_jkt)
                    rotation = self._rotation(refresh_token, stored, bound, policy, now)
                    return dataclasses.replace(rotation, bind_jkt=dpop_jkt)
                return self._rotation(refresh_token, stored, session, policy, now)
            if isinstance(decision, ReplaySuccessor):
                return self._replay(refresh_token, stored, session, now)
            reuse = decision.end_session == "refresh_reuse"
            audit = [AuditEvent("refresh.reuse_detected", session_fields(session))] if reuse else []
            return RefreshPlan(
                audit=[*audit, AuditEvent("refresh.rejected", {**session_fields(session), "reason": decision.reason})],
                result=session.sid,  # so the caller can drop the ended session's tokens at once
                end_reason=decision.end_session,
                ended_by="reuse_detection" if reuse else "policy",
            )

        outcome = await self._store.refresh(refresh_token_hash(refresh_token), family_of(refresh_token), plan, now)
        if outcome.end_reason is not None and isinstance(outcome.result, str):
            # The ended session's tokens die on this node at once, before the feed brings the news back.
            await self._revocations.sessions_ended([outcome.result], now)
        if isinstance(outcome.result, _ClientRefused) and outcome.result.reason == "client_authentication_required":
            raise InvalidClient("this refresh token belongs to a confidential client: authenticate the client")
        if not isinstance(outcome.result, IssuedSession):
            raise InvalidGrant("the refresh token is invalid, expired or revoked")
        return outcome.result

    def _rotation(
        self, old_token: str, stored: RefreshToken, session: Session, policy: PolicySettings, now: float
    ) -> RefreshPlan:
        touched = dataclasses.replace(session, last_active_at=now)
        successor = new_refresh_token(session.family)
        issued = self._tokens.issue_pair(touched, policy, now, successor)
        acr, amr = issued.assurance
        pair = {
            "access_token": issued.access_token,
            "access_expires_at": now + issued.expires_in,
            "refresh_token": successor,
            "refresh_expires_at": now + issued.refresh_expires_in,
            # A retry must say what the token it gets back says (a step-up's loa:2, not the session's loa:1).
            "acr": acr,
            "amr": list(amr),
        }
        return RefreshPlan(
            audit=[AuditEvent("session.refreshed", session_fields(session))],
            result=issued,
            rotate_to=RefreshToken(refresh_token_hash(successor), session.sid, now),
            successor=seal(old_token, json.dumps(pair).encode(), stored.token_hash.encode()),
            forget_rotated_before=forget_rotated_before(policy, now, self._settings.tokens.leeway),
        )

    def _replay(self, token: str, stored: RefreshToken, session: Session, now: float) -> RefreshPlan:
        opened = unseal(token, stored.successor or b"", stored.token_hash.encode())
        if opened is None:
            return _rejected("successor_unavailable", session)
        pair = json.loads(opened)
        issued = IssuedSession(
            session,
            pair["access_token"],
            max(0, math.floor(pair["access_expires_at"] - now)),
            pair["refresh_token"],
            max(0, math.floor(pair["refresh_expires_at"] - now)),
            pair.get("acr", ""),  # successors sealed before the assurance was kept: the session's
            tuple(pair.get("amr", ())),
        )
        return RefreshPlan(audit=[AuditEvent("refresh.replayed_within_grace", session_fields(session))], result=issued)

    # -- listing and ending --------------------------------------------------------------------------------

    async def _end(self, sids: list[str], reason: str, by: str, audit: list[AuditEvent], now: float) -> list[Session]:
        ended = await self._store.end_sessions(sids, reason, by, audit, now)
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        return ended

    async def alive_sessions(self, user_id: str) -> list[Session]:
        now = self._clock.now()
        sessions = await self._store.list_sessions(user_id)
        return [s for s in sessions if (p := self.policy(s)) is not None and is_alive(s, p, now)]

    def expires_at(self, session: Session) -> float:
        policy = self.policy(session)
        return session_deadline(session, policy) if policy else session.created_at

    async def end_own(self, user_id: str, current_sid: str, sid: str, reason: str) -> None:
        """Ends one of the caller's sessions; someone else's, or an unknown one, is "not found"."""
        mine = {s.sid for s in await self._store.list_sessions(user_id)}
        if sid not in mine:
            raise NotFound("no such session")
        await self._end([sid], "logout" if sid == current_sid else reason, "user", [], self._clock.now())

    async def end_scope(self, user_id: str, current_sid: str, scope: Literal["others", "all"]) -> list[Session]:
        now = self._clock.now()
        keep = current_sid if scope == "others" else None
        ended = await self._store.end_user_sessions(user_id, "revoked", "user", keep, [], now)
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        return ended

    async def end_all_of(self, user_id: str, by: str) -> list[Session]:
        now = self._clock.now()
        ended = await self._store.end_user_sessions(user_id, "admin_revoked", by, None, [], now)
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        return ended

    async def end_by_sid(self, sid: str, reason: str, by: str) -> list[Session]:
        return await self._end([sid], reason, by, [], self._clock.now())

    # -- password change -----------------------------------------------------------------------------------

    async def change_password(
        self, user_id: str, current_session: Session, current: str, new: str, ip: str, user_agent: str
    ) -> IssuedSession:
        check_new_password(new)
        # The current password is guessed here as at a login, so it counts in the same windows.
        await self._current_password.check(user_id, current, ip, "password.change_refused")
        if current == new:
            raise InvalidRequest("the new password must differ from the current one")
        new_hash = await self._passwords.hash(new)
        now = self._clock.now()
        policy = self.cookie_policy(current_session)
        session, refresh, stored = fresh_session(
            user_id,
            current_session.client_id,
            policy.name,
            now,
            current_session.acr,
            current_session.amr,
            ip,
            user_agent,
        )
        # The fresh session keeps the caller's DPoP binding: its tokens stay bound to the same key.
        session = dataclasses.replace(session, dpop_jkt=current_session.dpop_jkt)
        # Tokens issued in an earlier second are dead by the epoch; those of this second die with their sid.
        epoch = float(math.floor(now))
        ended = await self._store.change_password(
            user_id,
            new_hash,
            epoch,
            session,
            stored,
            [
                AuditEvent("password.changed", {"user_id": user_id}),
                AuditEvent("session.created", {**session_fields(session), "ip": ip, "acr": session.acr}),
            ],
            now,
        )
        await self._revocations.epoch_moved(user_id, epoch)
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        return self._tokens.issue_pair(session, policy, now, refresh)


@dataclass(frozen=True, slots=True)
class _ClientRefused:
    reason: RefreshRefusal


def _rejected(reason: str, session: Session | None) -> RefreshPlan:
    fields = session_fields(session) if session else {}
    return RefreshPlan(audit=[AuditEvent("refresh.rejected", {**fields, "reason": reason})])


def check_new_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
