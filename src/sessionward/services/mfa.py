"""Second factors: TOTP (RFC 6238) and WebAuthn enrolment and confirmation, single-use recovery codes, checking
a factor (throttled like passwords), step-up, the assurance sensitive operations demand (RFC 9470), and the
reset of a lost factor by an administrator.

Secrets and codes never reach the audit trail or the logs: records name the user, the method and the outcome.
TOTP secrets are stored encrypted under the key-encryption key, as the signing keys are (the store encrypts and
decrypts them: stores/_sql_keyed.py); recovery codes only as SHA-256 hashes.
"""

from __future__ import annotations

from typing import Any, NoReturn

from sessionward.clock import Clock
from sessionward.config import PolicySettings, Settings
from sessionward.core.assurance import assurance_shortfall, challenge, factor_amr, required_for_sensitive
from sessionward.core.audit import AuditEvent, hash_identifier
from sessionward.core.events import session_fields
from sessionward.core.models import RefreshToken, Session, WebAuthnCredential
from sessionward.core.otp import (
    RECOVERY_CODES,
    new_recovery_code,
    new_totp_secret,
    provisioning_uri,
    recovery_code_hash,
    totp_step_matching,
)
from sessionward.core.throttle import Window
from sessionward.crypto.jwt import AccessClaims
from sessionward.errors import (
    InsufficientAuthentication,
    InvalidMfa,
    InvalidRequest,
    InvalidToken,
    MfaEnrollmentRequired,
    NotFound,
    TooManyAttempts,
)
from sessionward.services.current_password import CurrentPassword
from sessionward.services.revocation import RevocationState
from sessionward.services.throttling import Keyed, Throttle
from sessionward.services.tokens import IssuedSession, TokenService, new_refresh_token, refresh_token_hash
from sessionward.services.webauthn import WebAuthnService
from sessionward.stores.base import DurableStore

METHODS = ("totp", "webauthn", "recovery_code")
# Wrong second factors per account within the login failure window (a moving window, as for passwords).
MAX_FAILURES_PER_ACCOUNT = 10


def _first_factor(user_id: str, method: str, sid: str, first: bool) -> list[AuditEvent]:
    """The notice of a user's first factor, naming the session that bound it (its id only as a digest): the
    user's other sessions stay, so the owner of a stolen session is not locked out by what the thief bound."""
    if not first:
        return []
    return [AuditEvent("mfa.first_factor_added", {"user_id": user_id, "method": method, "sid": hash_identifier(sid)})]


def check_method(method: str, assertion: dict[str, Any] | None) -> None:
    """A second step names a known method, and a WebAuthn one comes with its assertion."""
    if method not in METHODS:
        raise InvalidRequest("'method' must be one of: " + ", ".join(METHODS))
    if method == "webauthn" and assertion is None:
        raise InvalidRequest("'credential' (the WebAuthn assertion) is required for method 'webauthn'")


class MfaService:
    def __init__(
        self,
        settings: Settings,
        store: DurableStore,
        throttle: Throttle,
        tokens: TokenService,
        revocations: RevocationState,
        clock: Clock,
        webauthn: WebAuthnService,
        current_password: CurrentPassword,
    ) -> None:
        self._current_password = current_password
        self._settings = settings
        self._webauthn = webauthn
        self._store = store
        self._throttle = throttle
        self._tokens = tokens
        self._revocations = revocations
        self._clock = clock
        self._window = Window("mfa_account", MAX_FAILURES_PER_ACCOUNT, settings.login.failure_window)

    async def has_factor(self, user_id: str) -> bool:
        return await self._store.has_second_factor(user_id)

    async def methods_of(self, user_id: str) -> tuple[str, ...]:
        """The methods the user can answer a second-factor challenge with, in the order a client should offer."""
        totp = await self._store.get_totp(user_id)
        keys = await self._store.list_webauthn_credentials(user_id)
        codes = await self._store.recovery_codes_left(user_id)
        has = {"totp": totp is not None and totp.secret is not None, "webauthn": bool(keys), "recovery_code": codes > 0}
        return tuple(m for m in METHODS if has[m])

    # -- enrolment -----------------------------------------------------------------------------------------

    async def enrol_totp(self, user_id: str, username: str) -> tuple[str, str]:
        """A new secret awaiting confirmation (it replaces any earlier unconfirmed one): (secret, otpauth URI)."""
        now = self._clock.now()
        secret = new_totp_secret()
        await self._store.set_pending_totp(
            user_id, secret, [AuditEvent("mfa.totp_enrolled", {"user_id": user_id})], now
        )
        return secret, provisioning_uri(secret, username)

    async def confirm_totp(self, user_id: str, code: str, keep_sid: str) -> list[str]:
        """Confirms the pending secret with a code of it: the factor is on, the recovery codes are new (returned
        in clear this once), and the user's other sessions end, unless this is the user's first factor: then they
        stay and the trail says which session bound it (mfa.first_factor_added)."""
        now = self._clock.now()
        factor = await self._store.get_totp(user_id)
        if factor is None or factor.pending_secret is None:
            raise InvalidRequest("no TOTP enrolment awaits confirmation: POST /v1/mfa/totp first")
        await self._reserve(user_id, "totp", now)
        step = totp_step_matching(factor.pending_secret, code, now)
        if step is None:
            await self._failed(user_id, "totp", "wrong_code", now)
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        assert step is not None
        first = not await self.has_factor(user_id)
        audit = [
            AuditEvent("mfa.totp_confirmed", {"user_id": user_id, "replaced": factor.secret is not None}),
            AuditEvent("mfa.recovery_codes_issued", {"user_id": user_id, "count": RECOVERY_CODES}),
            *_first_factor(user_id, "totp", keep_sid, first),
        ]
        ended = await self._store.confirm_totp(
            user_id,
            factor.pending_secret,
            step,
            [recovery_code_hash(c) for c in codes],
            keep_sid,
            audit,
            now,
            end_others=not first,
        )
        if ended is None:
            raise InvalidMfa("the enrolment changed meanwhile: enrol again")
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        await self._throttle.forget(self._failures(user_id))
        return codes

    async def remove_totp(self, user_id: str, keep_sid: str) -> None:
        now = self._clock.now()
        ended = await self._store.remove_totp(
            user_id, keep_sid, [AuditEvent("mfa.totp_removed", {"user_id": user_id})], now
        )
        if ended is None:
            raise NotFound("no TOTP factor is enrolled")
        await self._revocations.sessions_ended([s.sid for s in ended], now)

    # -- checking a factor ---------------------------------------------------------------------------------

    def _failures(self, user_id: str) -> list[Keyed]:
        return [(f"mfa:acct:{user_id}", self._window)]

    async def _reserve(self, user_id: str, method: str, now: float) -> None:
        """Counts this attempt in the account's window before it is checked (see services.throttling): a wrong
        one keeps it, a right one forgets the run of failures. TooManyAttempts while the window is full."""
        if await self._throttle.reserve(self._failures(user_id), now) is None:
            wait = await self._throttle.wait(self._failures(user_id), now)
            await self._store.append_audit(
                [AuditEvent("mfa.throttled", {"user_id": user_id, "method": method, "retry_after": wait})], now
            )
            raise TooManyAttempts(wait)

    async def _failed(
        self,
        user_id: str,
        method: str,
        reason: str,
        now: float,
        message: str = "the code is wrong, used already or expired",
    ) -> NoReturn:
        # The failure was counted when the attempt was reserved.
        await self._store.append_audit(
            [AuditEvent("mfa.failed", {"user_id": user_id, "method": method, "reason": reason})], now
        )
        raise InvalidMfa(message)

    async def verify(
        self,
        user_id: str,
        method: str,
        code: str,
        context: dict[str, str],
        assertion: dict[str, Any] | None = None,
        challenge_purpose: str = "",
    ) -> None:
        """Checks a second factor now, once: a TOTP step, a recovery code or a WebAuthn challenge is never
        accepted twice, on any node. A WebAuthn `assertion` must answer a challenge issued for
        `challenge_purpose`. Raises TooManyAttempts while the account's window is full, InvalidMfa for a wrong
        code or assertion."""
        now = self._clock.now()
        check_method(method, assertion)
        await self._reserve(user_id, method, now)
        succeeded = AuditEvent("mfa.succeeded", {"user_id": user_id, "method": method, **context})
        if method == "webauthn":
            assert assertion is not None
            reason = await self._webauthn.verify_assertion(user_id, assertion, challenge_purpose, [succeeded])
            if reason is not None:
                await self._failed(user_id, method, reason, now, "the security key's answer is invalid, used or late")
        elif method == "totp":
            factor = await self._store.get_totp(user_id)
            secret = factor.secret if factor else None
            step = totp_step_matching(secret, code, now) if secret else None
            if secret is None or step is None:
                await self._failed(user_id, method, "wrong_code", now)
            assert secret is not None and step is not None
            if not await self._store.use_totp_step(user_id, secret, step, [succeeded], now):
                await self._failed(user_id, method, "code_replayed", now)
        else:
            used = AuditEvent("mfa.recovery_code_used", {"user_id": user_id})
            if len(code) > 64 or not await self._store.use_recovery_code(
                user_id, recovery_code_hash(code), [succeeded, used], now
            ):
                await self._failed(user_id, method, "wrong_or_used_code", now)
        # As with passwords, a success ends the run of consecutive failures.
        await self._throttle.forget(self._failures(user_id))

    # -- step-up and the assurance of sensitive operations ---------------------------------------------------

    def _policy(self, client_id: str) -> PolicySettings:
        client = self._settings.clients.get(client_id)
        return self._settings.policies[client.policy] if client else self._settings.policies["default"]

    async def demand_fresh(self, claims: AccessClaims, operation: str, *, adding: bool = False) -> None:
        """A sensitive operation: with a policy that requires MFA, or for a user with a factor, the caller's token
        must show a second factor (acr loa:2) checked within the policy's step_up_max_age; otherwise 401 with the
        RFC 9470 challenge. Adding a factor (`adding`) needs it only next to another one: a user's first factor
        has nothing to step up with, and refusing it would lock out a user whose policy requires MFA."""
        policy = self._policy(claims.client_id)
        has_factor = await self.has_factor(claims.sub)
        if adding and not has_factor:
            return
        need = required_for_sensitive(policy.require_mfa, has_factor, policy.step_up_max_age)
        if need is None:
            return
        now = self._clock.now()
        short = assurance_shortfall(claims.acr, claims.auth_time, need.acr, need.max_age, now)
        if short is not None:
            await self._store.append_audit(
                [AuditEvent("step_up.required", {"user_id": claims.sub, "operation": operation})], now
            )
            acr, max_age = short
            raise InsufficientAuthentication(acr, max_age, challenge(acr, max_age)[0])

    async def first_factor_needs_password(self, claims: AccessClaims) -> bool:
        """Whether beginning to add a factor now needs `current_password` (see `demand_to_add`): a page shows
        the field then."""
        if await self.has_factor(claims.sub):
            return False
        max_age = self._policy(claims.client_id).step_up_max_age
        return assurance_shortfall(claims.acr, claims.auth_time, None, max_age, self._clock.now()) is not None

    async def demand_to_add(self, claims: AccessClaims, operation: str, current_password: str | None, ip: str) -> None:
        """Beginning to add a factor (a TOTP secret, a WebAuthn registration's options). Next to another factor it
        is a factor change (`demand_fresh`). A user's first factor is as sensitive as a password change (with
        it, whoever holds it is asked for it at every sign-in): it needs a password check within the policy's
        step_up_max_age, either the session's own sign-in or `current_password` given now (checked in the
        password throttle's windows); otherwise 401 with the RFC 9470 challenge (max_age). The confirmation
        that follows needs no check of its own: it answers the secret or challenge only this step handed out."""
        if await self.has_factor(claims.sub):
            await self.demand_fresh(claims, operation, adding=True)
            return
        if current_password is not None:
            await self._current_password.check(claims.sub, current_password, ip, "mfa.enrolment_refused")
            return
        now = self._clock.now()
        max_age = self._policy(claims.client_id).step_up_max_age
        short = assurance_shortfall(claims.acr, claims.auth_time, None, max_age, now)
        if short is not None:
            await self._store.append_audit(
                [AuditEvent("step_up.required", {"user_id": claims.sub, "operation": operation, "need": "password"})],
                now,
            )
            _acr, seconds = short
            raise InsufficientAuthentication(
                None,
                seconds,
                f"a first second factor needs a password check within {seconds} s: "
                "give current_password, or sign in again",
            )

    async def webauthn_options_for(self, user_id: str, purpose: str) -> dict[str, Any] | None:
        return await self._webauthn.authentication_options(user_id, purpose)

    async def step_up_options(self, claims: AccessClaims) -> dict[str, Any]:
        """WebAuthn options for a step-up of the caller's session."""
        options = await self._webauthn.authentication_options(claims.sub, f"step_up:{claims.sid}")
        if options is None:
            raise MfaEnrollmentRequired("no security key is registered: POST /v1/mfa/webauthn first")
        return options

    async def step_up(
        self,
        claims: AccessClaims,
        session: Session,
        method: str,
        code: str,
        ip: str,
        assertion: dict[str, Any] | None = None,
    ) -> IssuedSession:
        """Checks a factor now and records it on the session: its tokens carry acr loa:2 and this auth_time for
        the policy's step_up_max_age. Answers new tokens (the refresh token rotates)."""
        if not await self.has_factor(claims.sub):
            raise MfaEnrollmentRequired("no second factor is enrolled: POST /v1/mfa/totp or /v1/mfa/webauthn first")
        context = {"ip": ip, "purpose": "step_up"}
        await self.verify(claims.sub, method, code, context, assertion, f"step_up:{session.sid}")
        now = self._clock.now()
        refresh = new_refresh_token(session.family)
        elevated = await self._store.elevate_session(
            session.sid,
            RefreshToken(refresh_token_hash(refresh), session.sid, now),
            [AuditEvent("session.stepped_up", {**session_fields(session), "method": method})],
            now,
            factor_amr(method),
        )
        policy = self._settings.policies.get(session.policy)
        if elevated is None or policy is None:
            raise InvalidToken("session_ended")
        return self._tokens.issue_pair(elevated, policy, now, refresh)

    # -- WebAuthn enrolment and removal ----------------------------------------------------------------------

    async def webauthn_options(self, user_id: str, username: str) -> dict[str, Any]:
        return await self._webauthn.registration_options(user_id, username)

    async def confirm_webauthn(
        self, user_id: str, answer: dict[str, Any], name: str, keep_sid: str
    ) -> tuple[WebAuthnCredential, list[str]]:
        """Registers the authenticator that answered our registration challenge (with user verification). The
        user's first factor comes with new recovery codes (returned in clear this once; none otherwise) and keeps
        the user's other sessions (mfa.first_factor_added); a later one ends them."""
        now = self._clock.now()
        await self._reserve(user_id, "webauthn", now)
        credential = await self._webauthn.verify_registration(user_id, answer, name)
        if credential is None:
            await self._failed(
                user_id, "webauthn", "registration_invalid", now, "the security key's answer is invalid, used or late"
            )
        assert credential is not None
        first = not await self.has_factor(user_id)
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)] if first else []
        audit = [AuditEvent("mfa.webauthn_registered", {"user_id": user_id, "name": credential.name})]
        if codes:
            audit.append(AuditEvent("mfa.recovery_codes_issued", {"user_id": user_id, "count": RECOVERY_CODES}))
        audit.extend(_first_factor(user_id, "webauthn", keep_sid, first))
        ended = await self._store.add_webauthn_credential(
            credential, [recovery_code_hash(c) for c in codes], keep_sid, audit, now, end_others=not first
        )
        if ended is None:
            raise InvalidRequest("this security key is registered already")
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        await self._throttle.forget(self._failures(user_id))
        return credential, codes

    async def remove_webauthn(self, user_id: str, credential_id: str, keep_sid: str) -> None:
        now = self._clock.now()
        ended = await self._store.remove_webauthn_credential(
            user_id, credential_id, keep_sid, [AuditEvent("mfa.webauthn_removed", {"user_id": user_id})], now
        )
        if ended is None:
            raise NotFound("no such security key")
        await self._revocations.sessions_ended([s.sid for s in ended], now)

    async def new_recovery_codes(self, user_id: str, keep_sid: str) -> list[str]:
        """Ten new recovery codes (returned in clear this once); the old ones stop working and, as with any factor
        change, the user's other sessions end."""
        now = self._clock.now()
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        audit = [AuditEvent("mfa.recovery_codes_issued", {"user_id": user_id, "count": RECOVERY_CODES})]
        hashes = [recovery_code_hash(c) for c in codes]
        ended = await self._store.replace_recovery_codes(user_id, hashes, keep_sid, audit, now)
        if ended is None:
            raise MfaEnrollmentRequired("recovery codes stand in for a second factor: enrol one first")
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        return codes

    async def reset_factors(self, user_id: str, by: str) -> int:
        """A lost factor: every factor and recovery code of the user goes and every session of the user ends
        (the user signs in with the password and enrols again). Answers how many sessions ended."""
        now = self._clock.now()
        ended = await self._store.reset_factors(user_id, [AuditEvent("mfa.reset", {"user_id": user_id, "by": by})], now)
        await self._revocations.sessions_ended([s.sid for s in ended], now)
        await self._throttle.forget(self._failures(user_id))
        return len(ended)
