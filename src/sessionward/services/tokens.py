"""Issuing access and refresh tokens, and the one strict path every protected request goes through."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

from sessionward.clock import SystemClock
from sessionward.config import PolicySettings, Settings
from sessionward.core.assurance import effective_assurance
from sessionward.core.audit import AuditEvent, hash_identifier
from sessionward.core.models import RefreshToken, Session
from sessionward.core.session import is_alive, session_deadline, token_lifetimes
from sessionward.crypto.jwt import AccessClaims, TokenRejected, TokenVerifier, VerifyRules, sign_jwt
from sessionward.errors import InvalidDpopProof, InvalidToken
from sessionward.services.dpop import DpopRequest, DpopService
from sessionward.services.keyring import KeyRingService
from sessionward.services.liveness import LiveSessions
from sessionward.services.refusals import RefusalAudit
from sessionward.services.revocation import RevocationState
from sessionward.stores.base import DurableStore

MAX_AUTHORIZATION_HEADER = 8192


def new_refresh_token(family: str) -> str:
    """`family.secret`: 96 random bits naming the session's token family, then 256 random bits."""
    return f"{family}.{secrets.token_urlsafe(32)}"


def family_of(refresh_token: str) -> str | None:
    family, dot, _secret = refresh_token.partition(".")
    return family if dot and len(family) == FAMILY_LENGTH else None


FAMILY_LENGTH = 16  # secrets.token_urlsafe(12)


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    expires_in: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class IssuedSession:
    session: Session
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    # The assurance the access token claims (the session's, raised while a step-up lasts); empty: the session's.
    acr: str = ""
    amr: tuple[str, ...] = ()

    @property
    def assurance(self) -> tuple[str, tuple[str, ...]]:
        return (self.acr, self.amr) if self.acr else (self.session.acr, self.session.amr)


def fresh_session(
    user_id: str, client_id: str, policy: str, now: float, acr: str, amr: tuple[str, ...], ip: str, user_agent: str
) -> tuple[Session, str, RefreshToken]:
    """A new session with its first refresh token (returned in clear once, stored only as its hash)."""
    session = Session(
        sid=secrets.token_urlsafe(18),
        user_id=user_id,
        client_id=client_id,
        policy=policy,
        created_at=now,
        last_active_at=now,
        auth_time=now,
        acr=acr,
        amr=amr,
        ip=ip,
        # NUL is not storable in PostgreSQL text, nor meaningful in a header: drop control characters.
        user_agent="".join(ch for ch in user_agent[:512] if ch.isprintable()),
        family=secrets.token_urlsafe(12),
    )
    refresh = new_refresh_token(session.family)
    return session, refresh, RefreshToken(refresh_token_hash(refresh), session.sid, now)


class TokenService:
    def __init__(
        self,
        settings: Settings,
        keyring: KeyRingService,
        revocations: RevocationState,
        store: DurableStore,
        dpop: DpopService | None = None,
        refusals: RefusalAudit | None = None,
    ) -> None:
        self._dpop = dpop
        self._settings = settings
        self._keyring = keyring
        self._revocations = revocations
        self._store = store
        # Refusals are counted past a few per minute and address (services/refusals.py): a flood costs few rows.
        self.refusals = refusals or RefusalAudit(store, SystemClock())
        rules = VerifyRules(
            issuer=settings.server.issuer_url,
            audience=settings.tokens.audience,
            leeway=settings.tokens.leeway,
        )
        # ~2 KB per cached token: 8192 entries bound the cache near 25 MB.
        self._verifier = TokenVerifier(keyring.current, rules, cache_size=8192)
        # A session read alive is trusted for at most one token life: an ending within it comes by the feed.
        self._live = LiveSessions()
        self._trust_for = settings.max_access_token_ttl + settings.tokens.leeway

    def issue_pair(self, session: Session, policy: PolicySettings, now: float, refresh_token: str) -> IssuedSession:
        access = self.issue_access_token(session, policy, now)
        refresh_expires_in = token_lifetimes(session, policy, policy.access_token_ttl, now).refresh_expires_in
        assurance = effective_assurance(session, policy.step_up_max_age, now)
        return IssuedSession(
            session, access.token, access.expires_in, refresh_token, refresh_expires_in, assurance.acr, assurance.amr
        )

    def issue_access_token(self, session: Session, policy: PolicySettings, now: float) -> IssuedAccessToken:
        # Never outlive the session's absolute limit.
        leeway = self._settings.tokens.leeway
        exp = token_lifetimes(session, policy, policy.access_token_ttl, now, leeway).access_expires_at
        iat = math.floor(now)
        assurance = effective_assurance(session, policy.step_up_max_age, now)
        claims = {
            "iss": self._settings.server.issuer_url,
            "sub": session.user_id,
            "aud": self._settings.tokens.audience,
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "jti": secrets.token_urlsafe(24),
            "sid": session.sid,
            "client_id": session.client_id,
            # What the session verified, raised while a step-up lasts (core/assurance.py).
            "auth_time": math.floor(assurance.auth_time),
            "acr": assurance.acr,
            "amr": list(assurance.amr),
        }
        if session.dpop_jkt is not None:
            claims["cnf"] = {"jkt": session.dpop_jkt}  # RFC 9449 section 6.1: every token of a bound session
        key = self._keyring.current().active(self._settings.tokens.algorithm)
        return IssuedAccessToken(sign_jwt(key, claims), max(0, exp - iat), exp)

    def verify(self, token: str, now: float) -> AccessClaims:
        """Signature and claims, then revocation. Raises InvalidToken with the reason for the audit log."""
        try:
            claims = self._verifier.verify(token, now)
        except TokenRejected as exc:
            raise InvalidToken(exc.reason) from None
        if self._revocations.is_revoked(claims.sid, claims.sub, claims.iat):
            raise InvalidToken("session_ended")
        return claims

    async def authenticate(
        self, authorization: str | None, now: float, ip: str, dpop: DpopRequest | None = None
    ) -> AccessClaims:
        """The access token of an Authorization header; every rejection is audited with its reason (as
        `token.rejected`, or `dpop.rejected` by the DPoP service for a refused proof).

        A DPoP-bound token (`cnf.jkt`) is accepted only as `DPoP <token>` with a valid, first-seen proof by its
        key for this request (`dpop`), never as a bearer token; an unbound token only as `Bearer <token>`.
        The token's session must be proven alive (SPEC 4): read from the store the first time this node sees it
        (services/liveness.py remembers it for a bounded time; the revocation state covers its ending), and per
        request while this node's revocation state is not known to be in sync with the store: a token is never
        accepted on memory that may be stale, nor for a session that never existed."""
        claims: AccessClaims | None = None
        try:
            scheme, token = authorization_token(authorization)
            claims = self.verify(token, now)
            if claims.cnf_jkt is None:
                if scheme != "bearer":
                    raise InvalidToken("unbound_token_as_dpop")
            elif scheme != "dpop":
                raise InvalidToken("dpop_bound_token_as_bearer")
            elif dpop is None or self._dpop is None:
                raise InvalidToken("dpop_proof_unavailable")
            else:
                await self._dpop.check(dpop, now, access_token=token, expected_jkt=claims.cnf_jkt)
            if not self._revocations.in_sync():
                # Memory may be stale: the store, for every request, until the feed has caught up.
                await self._prove_alive(claims, now, check_epoch=True)
            elif not self._live.known(claims.sid, claims.sub, claims.client_id, now):
                await self._prove_alive(claims, now, check_epoch=False)
            return claims
        except InvalidDpopProof:
            raise  # recorded where the proof was checked, as dpop.rejected (services/dpop.py)
        except InvalidToken as exc:
            await self.refusals.record(rejected(exc.reason, ip, claims), now)
            raise

    async def _prove_alive(self, claims: AccessClaims, now: float, *, check_epoch: bool) -> None:
        """SPEC 4: the token's session exists in the store, belongs to the token's user and client (a client
        still configured), and is alive. A store that cannot be read raises: the request fails closed (503).

        `check_epoch`: also read the user's epoch (when the revocation state, which knows it, may be stale)."""
        session, policy = check_session_of(claims, await self._store.get_session(claims.sid), self._settings, now)
        if check_epoch:
            user = await self._store.get_user(claims.sub)
            if user is None or claims.iat < user.epoch:
                raise InvalidToken("user_epoch")
        # An ending that reached this node while the store was being read.
        if self._revocations.is_revoked(claims.sid, claims.sub, claims.iat):
            raise InvalidToken("session_ended")
        until = min(now + self._trust_for, session_deadline(session, policy))
        self._live.remember(session.sid, session.user_id, session.client_id, until)


def check_session_of(
    claims: AccessClaims, session: Session | None, settings: Settings, now: float
) -> tuple[Session, PolicySettings]:
    """The token's session and its policy when that session proves the token alive (SPEC 4): it exists,
    belongs to the token's user and client, the client is still configured, and it is alive at `now`.
    InvalidToken naming why not otherwise (a made-up or another user's session is refused like a revoked one)."""
    if session is None:
        raise InvalidToken("unknown_session")
    if session.user_id != claims.sub or session.client_id != claims.client_id:
        raise InvalidToken("session_mismatch")
    if session.client_id not in settings.clients:
        raise InvalidToken("client_removed")
    policy = settings.policies.get(session.policy)
    if policy is None or not is_alive(session, policy, now):
        raise InvalidToken("session_ended")
    return session, policy


def rejected(reason: str, ip: str, claims: AccessClaims | None) -> AuditEvent:
    """`token.rejected`; a validly signed token's refusal (a DPoP one) names its session, by digest."""
    fields: dict[str, object] = {"reason": reason, "ip": ip}
    if claims is not None:
        fields.update(sid=hash_identifier(claims.sid), user_id=claims.sub, client_id=claims.client_id)
    return AuditEvent("token.rejected", fields)


def bearer_token(authorization: str | None) -> str:
    scheme, token = authorization_token(authorization)
    if scheme != "bearer":
        raise InvalidToken("malformed_authorization_header")
    return token


def authorization_token(authorization: str | None) -> tuple[str, str]:
    """("bearer" | "dpop", token) of an Authorization header (schemes are case-insensitive, RFC 9110)."""
    if not authorization:
        raise InvalidToken("missing_token")
    if len(authorization) > MAX_AUTHORIZATION_HEADER:
        raise InvalidToken("oversized_header")
    scheme, _, token = authorization.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop") or not token or token != token.strip():
        raise InvalidToken("malformed_authorization_header")
    return scheme, token
