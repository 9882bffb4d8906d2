"""Login: throttle, password, policy, session and tokens, with an audit record for every outcome."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.core.assurance import AMR_PASSWORD, LOA_MFA, LOA_PASSWORD, factor_amr
from sessionward.core.audit import AuditEvent
from sessionward.core.events import session_fields
from sessionward.core.limits import Admission
from sessionward.core.limits import admit as decide_admission
from sessionward.core.models import MfaChallenge, Session, User
from sessionward.core.names import fold_username
from sessionward.crypto.kek import keyed_digest
from sessionward.errors import (
    CredentialsChanged,
    InvalidCredentials,
    InvalidMfa,
    InvalidRequest,
    MfaEnrollmentRequired,
    MfaRequired,
    MfaTokenUnusable,
    SessionLimit,
    TooManyAttempts,
)
from sessionward.services.mfa import MfaService, check_method
from sessionward.services.passwords import Passwords
from sessionward.services.revocation import RevocationState
from sessionward.services.throttling import PasswordGuesses
from sessionward.services.tokens import IssuedSession, TokenService, fresh_session, refresh_token_hash
from sessionward.services.usernames import Usernames
from sessionward.stores.base import DurableStore

ACR_PASSWORD = LOA_PASSWORD
ACR_MFA = LOA_MFA
MFA_TOKEN_TTL = 300.0  # the second step must follow the password within five minutes
MAX_FAILURES_PER_TOKEN = 5  # wrong codes that burn an mfa_token (the account's window counts them too)


def _digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()


def _unusable(found: MfaChallenge | None, ip: str, now: float) -> str | None:
    if found is None:
        return "unknown_token"
    if found.state != "pending":
        return f"token_{found.state}"
    if now >= found.expires_at:
        return "token_expired"
    if not hmac.compare_digest(found.ip, ip):
        return "other_address"
    return None


@dataclass(frozen=True, slots=True)
class LoginRequest:
    username: str
    password: str
    client_id: str
    ip: str
    user_agent: str
    revoke_other_sessions: bool = False
    # The thumbprint of the DPoP key whose proof came with the sign-in: the session's tokens are bound to it.
    dpop_jkt: str | None = None


class AuthService:
    def __init__(
        self,
        settings: Settings,
        store: DurableStore,
        passwords: Passwords,
        tokens: TokenService,
        revocations: RevocationState,
        clock: Clock,
        mfa: MfaService,
        usernames: Usernames,
        guesses: PasswordGuesses,
        *,
        identifier_key: bytes,
    ) -> None:
        """`identifier_key`: the HMAC key of typed usernames in the audit trail (derived from the server
        secret): a record correlates failures of one typed name without revealing it to a dictionary."""
        self._identifier_key = identifier_key
        self._mfa = mfa
        self._revocations = revocations
        self._settings = settings
        self._store = store
        self._passwords = passwords
        self._tokens = tokens
        self._clock = clock
        self._usernames = usernames
        self._guesses = guesses

    async def username_of(self, user_id: str) -> str:
        return await self._usernames.of(user_id)

    async def create_user(self, username: str, password: str, is_admin: bool, created_by: str) -> User:
        now = self._clock.now()
        user = User(str(uuid.uuid4()), username, await self._passwords.hash(password), is_admin, now)
        event = AuditEvent(
            "user.created", {"user_id": user.user_id, "username": username, "admin": is_admin, "by": created_by}
        )
        await self._store.create_user(user, [event], now)
        return user

    async def login(self, req: LoginRequest) -> IssuedSession:
        now = self._clock.now()
        if req.client_id not in self._settings.clients:
            raise InvalidRequest("unknown client_id")
        account = fold_username(req.username)
        failures, attempts = self._guesses.failures(account, req.ip), self._guesses.attempts(req.ip)
        throttle = self._guesses.throttle
        # Reserved before the password is checked: a burst of concurrent guesses gets no more checked than the
        # windows allow. The address's window counts every attempt; the failure windows keep a wrong one.
        if await throttle.reserve((*failures, attempts), now) is None:
            wait = await throttle.wait((*failures, attempts), now)
            # The typed name only hashed, as for a failure: people type passwords into the username field.
            throttled = {"account": keyed_digest(self._identifier_key, account), "ip": req.ip, "retry_after": wait}
            # Anyone can cause this as often as they like: bounded rows per address and minute (services/refusals.py).
            await self._tokens.refusals.record(AuditEvent("login.throttled", throttled), now)
            raise TooManyAttempts(wait)

        user = await self._store.get_user_by_name(req.username)
        ok = await self._passwords.verify(user.password_hash if user else None, req.password)
        if user is None or not ok:
            who = {"user_id": user.user_id} if user else {"unknown_user": keyed_digest(self._identifier_key, account)}
            await self._store.append_audit(
                [AuditEvent("login.failed", {**who, "ip": req.ip, "reason": "invalid_credentials"})], now
            )
            raise InvalidCredentials("the username or password is wrong")

        # Consecutive failures end with a success (NIST SP 800-63B counts consecutive failures), this attempt's
        # reservation with them.
        await throttle.forget(failures)
        verified_hash = user.password_hash
        if self._passwords.needs_rehash(verified_hash):
            upgraded = await self._passwords.hash(req.password)
            if await self._store.set_password_hash(
                user.user_id,
                upgraded,
                [AuditEvent("user.password_rehashed", {"user_id": user.user_id})],
                now,
                replaces=verified_hash,
            ):
                verified_hash = upgraded
        policy = self._settings.policy_for_client(req.client_id)
        has_factor = await self._mfa.has_factor(user.user_id)
        if policy.require_mfa and not has_factor:
            # The policy fails closed: no password-only session, and no second step the user could not take.
            await self._store.append_audit(
                [AuditEvent("login.refused", {"user_id": user.user_id, "reason": "mfa_enrollment_required"})], now
            )
            raise MfaEnrollmentRequired(
                "this client's policy requires a second factor and none is enrolled: enrol one (POST /v1/mfa/totp) "
                "from a session of a client whose policy does not require it, or ask an administrator"
            )
        if has_factor:
            await self._challenge(user, req, verified_hash, now)
        try:
            return await self._start_session(user, req, now, verified_hash)
        except CredentialsChanged:
            await self._store.append_audit(
                [AuditEvent("login.failed", {"user_id": user.user_id, "ip": req.ip, "reason": "password_changed"})],
                now,
            )
            raise InvalidCredentials("the username or password is wrong") from None

    async def _challenge(self, user: User, req: LoginRequest, verified_hash: str, now: float) -> NoReturn:
        """The password was right and a second factor must follow: a single-use mfa_token bound to this attempt
        (user, client, address, the password hash verified), stored only hashed."""
        token = secrets.token_urlsafe(32)
        challenge = MfaChallenge(
            refresh_token_hash(token),
            user.user_id,
            req.client_id,
            req.ip,
            "".join(ch for ch in req.user_agent[:512] if ch.isprintable()),
            req.revoke_other_sessions,
            _digest(verified_hash),
            now,
            now + MFA_TOKEN_TTL,
        )
        await self._store.create_mfa_challenge(
            challenge, [AuditEvent("login.mfa_required", {"user_id": user.user_id, "ip": req.ip})], now
        )
        raise MfaRequired(token, await self._mfa.methods_of(user.user_id), int(MFA_TOKEN_TTL))

    async def _pending_challenge(self, token_hash: str, ip: str, now: float) -> MfaChallenge:
        found = await self._store.get_mfa_challenge(token_hash)
        reason = _unusable(found, ip, now)
        if reason is not None or found is None:
            who = {"user_id": found.user_id} if found else {}
            await self._store.append_audit([AuditEvent("mfa.failed", {**who, "ip": ip, "reason": reason})], now)
            raise MfaTokenUnusable("the mfa_token is invalid, expired or used: sign in again")
        return found

    async def webauthn_login_options(self, mfa_token: str, ip: str) -> dict[str, Any]:
        """WebAuthn options for the second step of this login: the challenge answers only this mfa_token."""
        token_hash = refresh_token_hash(mfa_token)
        found = await self._pending_challenge(token_hash, ip, self._clock.now())
        options = await self._mfa.webauthn_options_for(found.user_id, f"login:{token_hash}")
        if options is None:
            raise InvalidRequest("no security key is registered for this account: use another method")
        return options

    async def complete_mfa(
        self,
        mfa_token: str,
        method: str,
        code: str,
        ip: str,
        dpop_jkt: str | None = None,
        assertion: dict[str, Any] | None = None,
    ) -> IssuedSession:
        """The second step: the mfa_token of a password step from this address, and a factor checked now."""
        now = self._clock.now()
        token_hash = refresh_token_hash(mfa_token)
        found = await self._pending_challenge(token_hash, ip, now)
        check_method(method, assertion)
        # The attempt is counted against the mfa_token before its code is checked (one compare-and-set): a burst
        # of concurrent guesses gets at most MAX_FAILURES_PER_TOKEN of them checked.
        attempt = await self._store.reserve_mfa_attempt(token_hash, MAX_FAILURES_PER_TOKEN, now)
        if attempt is None:
            refused = {"user_id": found.user_id, "ip": ip, "reason": "attempts_exhausted"}
            await self._store.append_audit([AuditEvent("mfa.failed", refused)], now)
            raise MfaTokenUnusable("too many wrong codes for this sign-in: sign in again")
        try:
            context = {"ip": ip, "purpose": "login"}
            await self._mfa.verify(found.user_id, method, code, context, assertion, f"login:{token_hash}")
        except InvalidMfa:
            if attempt >= MAX_FAILURES_PER_TOKEN:
                burned = {"user_id": found.user_id, "ip": ip, "failures": attempt}
                await self._store.burn_mfa_challenge(token_hash, [AuditEvent("mfa.token_burned", burned)], now)
                raise MfaTokenUnusable("too many wrong codes for this sign-in: sign in again") from None
            raise
        except (TooManyAttempts, InvalidRequest):
            # Refused before any code was checked (the account's window is full): the attempt is not one.
            await self._store.release_mfa_attempt(token_hash, now)
            raise
        user = await self._store.get_user(found.user_id)
        if not await self._store.consume_mfa_challenge(token_hash, now) or user is None:
            await self._store.append_audit(
                [AuditEvent("mfa.failed", {"user_id": found.user_id, "ip": ip, "reason": "token_used"})], now
            )
            raise MfaTokenUnusable("the mfa_token is invalid, expired or used: sign in again")
        req = LoginRequest(
            user.username, "", found.client_id, found.ip, found.user_agent, found.revoke_others, dpop_jkt=dpop_jkt
        )
        try:
            if _digest(user.password_hash) != found.password_digest:
                raise CredentialsChanged("the password changed after the first step")
            return await self._start_session(user, req, now, user.password_hash, mfa_method=method)
        except CredentialsChanged:
            await self._store.append_audit(
                [AuditEvent("login.failed", {"user_id": user.user_id, "ip": ip, "reason": "password_changed"})], now
            )
            raise MfaTokenUnusable("the password changed meanwhile: sign in again") from None

    async def _start_session(
        self, user: User, req: LoginRequest, now: float, verified_hash: str, mfa_method: str | None = None
    ) -> IssuedSession:
        policy = self._settings.policy_for_client(req.client_id)
        mfa = mfa_method is not None
        acr, amr = (ACR_MFA, ("pwd", *factor_amr(mfa_method or ""))) if mfa else (ACR_PASSWORD, AMR_PASSWORD)
        session, refresh, stored = fresh_session(
            user.user_id, req.client_id, policy.name, now, acr, amr, req.ip, req.user_agent
        )
        if mfa:
            session = dataclasses.replace(session, mfa_at=now)
        if req.dpop_jkt is not None:
            session = dataclasses.replace(session, dpop_jkt=req.dpop_jkt)
        fields = session_fields(session)

        def admit(mine: Sequence[Session], at_ip: Sequence[Session]) -> Admission:
            return decide_admission(
                mine, at_ip, user.user_id, policy, now, req.revoke_other_sessions, dict(self._settings.policies)
            )

        def refused(admission: Admission) -> list[AuditEvent]:
            return [
                AuditEvent("session.limit_hit", {"user_id": user.user_id, "ip": req.ip, "limit": admission.refused_by})
            ]

        admission = await self._store.create_session(
            session,
            stored,
            [
                AuditEvent("login.succeeded", {"user_id": user.user_id, "ip": req.ip, "amr": list(amr)}),
                AuditEvent("session.created", {**fields, "ip": req.ip, "acr": session.acr}),
            ],
            now,
            admit=admit,
            refused_audit=refused,
            verified_hash=verified_hash,
        )
        await self._revocations.sessions_ended([sid for sid, _reason in admission.end], now)
        if admission.refused_by is not None:
            raise SessionLimit(f"the session limit ({admission.refused_by}) is reached")
        return self._tokens.issue_pair(session, policy, now, refresh)
