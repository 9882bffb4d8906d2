"""Client authentication (HTTP Basic, RFC 6749 section 2.3.1) and the token endpoints for clients:
RFC 7009 revocation and RFC 7662 introspection."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import unquote

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.core.audit import AuditEvent
from sessionward.core.events import session_fields
from sessionward.core.session import is_alive, session_deadline
from sessionward.errors import InvalidClient, InvalidToken
from sessionward.services.sessions import SessionService
from sessionward.services.tokens import TokenService, refresh_token_hash
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
    ) -> None:
        self._usernames = usernames
        self._settings = settings
        self._store = store
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock

    async def authenticate(self, authorization: str | None, ip: str) -> str:
        """The client id of valid Basic credentials; only clients with a secret may use these endpoints."""
        client_id, secret = _basic_credentials(authorization)
        client = self._settings.clients.get(client_id)
        expected = client.client_secret if client else ""
        # Compare in constant time even for an unknown client, so timing tells nothing about which exist.
        good = hmac.compare_digest(secret.encode(), (expected or "\0no secret\0").encode())
        if client is None or not expected or not good:
            await self._tokens.refusals.record(
                AuditEvent("client.auth_failed", {"client_id": client_id[:64], "ip": ip}), self._clock.now()
            )
            raise InvalidClient("client authentication failed")
        return client_id

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

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: the claims of an active token, or exactly {"active": false}."""
        now = self._clock.now()
        if token.count(".") == 2:
            try:
                claims = self._tokens.verify(token, now)
            except InvalidToken:
                return INACTIVE
            session = await self._store.get_session(claims.sid)
            policy = self._sessions.policy(session) if session else None
            if session is None or policy is None or not is_alive(session, policy, now):
                return INACTIVE
            username = await self._usernames.of(claims.sub)
            token_type = "DPoP" if claims.cnf_jkt is not None else "Bearer"  # `cnf` is among the claims
            return {"active": True, **claims.claims_dict(), "token_type": token_type, "username": username}
        found = await self._store.get_refresh_and_session(refresh_token_hash(token))  # one read: token and session
        if found is None or found[0].state != "current":
            return INACTIVE
        stored, session = found
        policy = self._sessions.policy(session)
        if policy is None or not is_alive(session, policy, now):
            return INACTIVE
        await self._store.append_audit([AuditEvent("token.introspected", session_fields(session))], now)
        return {
            "active": True,
            "token_type": "refresh_token",
            "sub": session.user_id,
            "sid": session.sid,
            "client_id": session.client_id,
            "iat": int(stored.created_at),
            "exp": int(session_deadline(session, policy)),
        }


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    if not authorization or len(authorization) > 2048:
        raise InvalidClient("client authentication (HTTP Basic) is required")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("client authentication (HTTP Basic) is required")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed client credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed client credentials")
    return unquote(client_id), unquote(secret)
