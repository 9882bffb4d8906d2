"""Client authentication (RFC 6749 section 2.3: HTTP Basic or client_id and client_secret in the body, throttled)
and the token endpoints for clients: RFC 7009 revocation and RFC 7662 introspection."""

from __future__ import annotations

from typing import Any

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.core.audit import AuditEvent, hash_identifier
from sessionward.core.client_auth import (
    MAX_CLIENT_ID,
    ClientCredentials,
    failure_windows,
    presented_credentials,
    secret_matches,
)
from sessionward.core.events import session_fields
from sessionward.core.session import is_alive, session_deadline
from sessionward.errors import InvalidClient, InvalidToken, TooManyAttempts
from sessionward.services.sessions import SessionService
from sessionward.services.throttling import Throttle
from sessionward.services.tokens import TokenService, check_session_of, refresh_token_hash
from sessionward.services.usernames import Usernames
from sessionward.stores.base import DurableStore

INACTIVE: dict[str, Any] = {"active": False}


class ClientService:
    def __init__(
        self,
        settings: Settings,
        store: DurableStore,
        tokens: TokenService,
        sessions: SessionService,
        clock: Clock,
        usernames: Usernames,
        throttle: Throttle,
    ) -> None:
        self._throttle = throttle
        self._usernames = usernames
        self._settings = settings
        self._store = store
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock

    async def authenticate(
        self, authorization: str | None, ip: str, body_id: str | None = None, body_secret: str | None = None
    ) -> str:
        """The id of the client the request authenticates (HTTP Basic, or client_id and client_secret in the body,
        never both); only clients with a secret authenticate."""
        credentials = presented_credentials(authorization, body_id, body_secret)
        if credentials is None:
            raise InvalidClient("client authentication is required: HTTP Basic, or client_id and client_secret")
        return await self.check(credentials, ip)

    async def check(self, credentials: ClientCredentials, ip: str) -> str:
        """The client id when the secret is right. Failures are throttled per client id and per address (checked
        before the secret, so a full window answers 429 even to the right secret) and audited."""
        now = self._clock.now()
        login = self._settings.login
        client_id = credentials.client_id[:MAX_CLIENT_ID]
        windows = failure_windows(
            client_id,
            ip,
            login.max_client_auth_failures_per_client,
            login.max_client_auth_failures_per_ip,
            login.failure_window,
        )
        # Reserved before the secret is compared: a burst of concurrent guesses gets no more compared than the
        # windows allow (a full window answers 429 even to the right secret).
        reservation = await self._throttle.reserve(windows, now)
        if reservation is None:
            wait = await self._throttle.wait(windows, now)
            fields = {"client_id": client_id, "ip": ip, "retry_after": wait}
            await self._tokens.refusals.record(AuditEvent("client.auth_throttled", fields), now)
            raise TooManyAttempts(wait)
        client = self._settings.clients.get(credentials.client_id)
        # Compared in constant time even for an unknown client, so timing tells nothing about which exist.
        good = secret_matches(credentials.secrets, client.client_secret if client else "")
        if client is None or not good:
            fields = {"client_id": client_id, "ip": ip, "method": credentials.method}
            await self._tokens.refusals.record(AuditEvent("client.auth_failed", fields), now)
            raise InvalidClient("client authentication failed")
        # A right secret was no failure: its own place goes back, the failures before it stay counted.
        await self._throttle.release(reservation)
        return client.client_id

    async def revoke(self, client_id: str, token: str) -> None:
        """RFC 7009: ends the token's session when the token belongs to this client; silent otherwise."""
        now = self._clock.now()
        sid = await self._session_of(token, now, client_id)
        if sid is not None:
            await self._sessions.end_by_sid(sid, "revoked", f"client:{client_id}")

    async def _session_of(self, token: str, now: float, client_id: str) -> str | None:
        if token.count(".") == 2:
            try:
                claims = self._tokens.verify(token, now)
            except InvalidToken:
                return None
            return claims.sid if claims.client_id == client_id else None
        found = await self._store.get_refresh_and_session(refresh_token_hash(token))
        return found[1].sid if found and found[1].client_id == client_id else None

    async def introspect(self, client_id: str, token: str) -> dict[str, Any]:
        """RFC 7662: the claims of an active token, or exactly {"active": false}. A client sees only its own tokens
        unless it is a resource server (`introspect_any`): another client's token is "not active" to it."""
        now = self._clock.now()
        caller = self._settings.clients[client_id]
        if token.count(".") == 2:
            try:
                claims = self._tokens.verify(token, now)
            except InvalidToken:
                return INACTIVE
            if not caller.introspect_any and claims.client_id != client_id:
                return await self._refused(client_id, claims.client_id, claims.sid, now)
            try:  # the session must prove the token alive: exist, be the token's user's and client's (SPEC 4)
                check_session_of(claims, await self._store.get_session(claims.sid), self._settings, now)
            except InvalidToken:
                return INACTIVE
            username = await self._usernames.of(claims.sub)
            token_type = "DPoP" if claims.cnf_jkt is not None else "Bearer"  # `cnf` is among the claims
            return {"active": True, **claims.claims_dict(), "token_type": token_type, "username": username}
        found = await self._store.get_refresh_and_session(refresh_token_hash(token))  # one read: token and session
        if found is None or found[0].state != "current":
            return INACTIVE
        stored, session = found
        if not caller.introspect_any and session.client_id != client_id:
            return await self._refused(client_id, session.client_id, session.sid, now)
        policy = self._sessions.policy(session)
        if policy is None or not is_alive(session, policy, now):
            return INACTIVE
        await self._store.append_audit([AuditEvent("token.introspected", session_fields(session))], now)
        # No token_type: RFC 7662 means the access token type of RFC 6749 section 7.1 (Bearer, DPoP), and a
        # refresh token is neither; a resource server that requires one never takes a refresh token for access.
        return {
            "active": True,
            "sub": session.user_id,
            "sid": session.sid,
            "client_id": session.client_id,
            "iat": int(stored.created_at),
            "exp": int(session_deadline(session, policy)),
        }

    async def _refused(self, caller: str, owner: str, sid: str, now: float) -> dict[str, Any]:
        fields = {"client_id": caller, "token_client_id": owner, "sid": hash_identifier(sid)}
        await self._store.append_audit([AuditEvent("token.introspection_refused", fields)], now)
        return INACTIVE
