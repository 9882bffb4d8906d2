"""SessionwardAuth: pure ASGI middleware that lets through only requests with a live sessionward access token.

Per request, no network call: the bearer token is verified locally with the issuer's public keys by the same
strict TokenVerifier sessionward itself uses (typ at+jwt, iss, aud, exp/nbf/iat with leeway, the algorithm taken
from the key found by kid), then checked against the revocation state the SSE feed keeps in memory. The route gets
the Principal in `scope["sessionward.principal"]` (read it with `get_principal`). The one exception: the first
token of each session is introspected once (sdk/_sessions.py), so a token naming a session that never existed
is refused (SPEC 4).

It fails closed: while the feed has not proven itself alive within `feed_bound` seconds, every protected request
is answered 503 temporarily_unavailable, because a token could have been revoked meanwhile.

The background work (discovery, JWKS, the feed) starts on the ASGI lifespan startup and stops on shutdown; under
a server without lifespan it starts with the first request, and `aclose()` stops it. It runs as asyncio tasks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Final

import anyio
import httpx2
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionward.crypto.jwt import TokenRejected, TokenVerifier, VerifyRules
from sessionward.sdk._feed import RevocationFeed
from sessionward.sdk._keys import IssuerKeys, discover
from sessionward.sdk._principal import SCOPE_KEY, Principal
from sessionward.sdk._sessions import CannotProve, SessionProofs, SessionUnknown

log = logging.getLogger("sessionward.sdk")

STREAM_PATH: Final = "/v1/revocations/stream"
MAX_AUTHORIZATION: Final = 8192
_INVALID_TOKEN: Final = (
    401,
    "invalid_token",
    "the access token is missing, invalid, expired or revoked",
    [(b"www-authenticate", b'Bearer error="invalid_token"')],
)
_UNAVAILABLE: Final = (
    503,
    "temporarily_unavailable",
    "the revocation feed is not current; try again shortly",
    [(b"retry-after", b"1")],
)
_CANNOT_PROVE: Final = (
    503,
    "temporarily_unavailable",
    "the token's session could not be checked; try again shortly",
    [(b"retry-after", b"1")],
)


class _Denied(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _bearer(scope: Scope) -> str:
    values: list[bytes] = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
    if len(values) != 1:
        raise _Denied("missing_token" if not values else "several_authorization_headers")
    if len(values[0]) > MAX_AUTHORIZATION:
        raise _Denied("oversized_header")
    scheme, _, token = values[0].decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token or token != token.strip():
        raise _Denied("malformed_authorization_header")
    return token


class SessionwardAuth:
    def __init__(
        self,
        app: ASGIApp,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        audience: str = "sessionward",
        ca_file: str | None = None,
        feed_bound: float = 1.0,
        leeway: float = 5.0,
        exempt_paths: Iterable[str] = (),
        jwks_refetch_interval: float = 10.0,
        jwks_refresh_interval: float = 300.0,
        startup_timeout: float = 5.0,
        prove_sessions: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`exempt_paths` are exact paths served without a token (health checks). `jwks_refetch_interval`: at
        most one JWKS refetch this often for tokens naming an unknown kid; `jwks_refresh_interval`: the JWKS is
        read again this often anyway, so keys the issuer dropped stop verifying. `startup_timeout`: how long
        startup (or the first request) waits for the keys and the feed before answering 503.

        `prove_sessions`: introspect the first token of each session once (sdk/_sessions.py), so a validly
        signed token naming a session that never existed is refused (SPEC 4); the client must be allowed to
        introspect. False skips that call and trusts any validly signed, unrevoked token's session."""
        if not issuer.startswith("https://"):
            raise ValueError("issuer must be an https:// URL (the client secret travels to it)")
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required (the revocation feed is for clients)")
        for name, value in (
            ("feed_bound", feed_bound),
            ("jwks_refetch_interval", jwks_refetch_interval),
            ("jwks_refresh_interval", jwks_refresh_interval),  # 0 would fetch the JWKS in a tight loop
            ("startup_timeout", startup_timeout),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        self.app = app
        self._issuer = issuer
        self._stream_url = issuer.rstrip("/") + STREAM_PATH
        self._auth = httpx2.BasicAuth(client_id, client_secret)
        self._ca_file = ca_file
        self._exempt = frozenset(exempt_paths)
        self._refetch_interval = jwks_refetch_interval
        self._refresh_interval = jwks_refresh_interval
        self._startup_timeout = startup_timeout
        self._clock = clock
        self._rules = VerifyRules(issuer=issuer, audience=audience, leeway=leeway)
        self._feed = RevocationFeed(feed_bound, leeway, clock)
        self._feed.on_synced = self._check_ready
        self._sessions = SessionProofs(leeway) if prove_sessions else None
        self._keys: IssuerKeys | None = None
        self._verifier: TokenVerifier | None = None
        self._http: httpx2.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: anyio.Event | None = None
        self._started_at = -math.inf
        self._closed = False

    # -- what operators and tests can see ------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Keys loaded and the revocation feed fresh: protected requests are being served."""
        return self._keys is not None and self._keys.loaded and self._feed.fresh()

    @property
    def jwks_fetches(self) -> int:
        return 0 if self._keys is None else self._keys.fetches

    @property
    def feed_connections(self) -> int:
        return self._feed.connections

    @property
    def session_checks(self) -> int:
        """Introspections made to prove a session alive (one per session and token life, not per request)."""
        return 0 if self._sessions is None else self._sessions.checks

    # -- lifetime ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the background work if it is not running, then waits until ready or `startup_timeout`."""
        if self._closed:
            raise RuntimeError("SessionwardAuth was closed")
        if self._task is None:
            context = ssl.create_default_context(cafile=self._ca_file) if self._ca_file else True
            self._http = httpx2.AsyncClient(verify=context, timeout=5.0, follow_redirects=False)
            self._keys = IssuerKeys(self._http, self._refetch_interval)
            self._verifier = TokenVerifier(self._keys.current, self._rules, cache_size=8192)
            self._ready = anyio.Event()
            self._started_at = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sessionward-sdk")
            self._task.add_done_callback(_report_crash)
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        remaining = self._started_at + self._startup_timeout - time.monotonic()
        if self._ready is not None and remaining > 0:
            with anyio.move_on_after(remaining):
                await self._ready.wait()

    async def aclose(self) -> None:
        """Stops the background work and closes its connections. Idempotent."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _check_ready(self) -> None:
        if self._ready is not None and self.ready:
            self._ready.set()

    async def _run(self) -> None:
        assert self._http is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._feed.run, self._http, self._stream_url, self._auth)
            tg.start_soon(self._maintain_keys)

    async def _maintain_keys(self) -> None:
        assert self._keys is not None and self._http is not None
        keys, backoff = self._keys, 0.1
        while True:
            try:
                if keys.jwks_uri is None:
                    jwks_uri, introspection = await discover(self._http, self._issuer)
                    if self._sessions is not None:
                        if introspection is None:
                            raise ValueError("the issuer names no introspection_endpoint to prove sessions with")
                        self._sessions.endpoint = introspection
                    keys.jwks_uri = jwks_uri
                await keys.fetch()
            except Exception as exc:  # keep trying whatever failed: without keys every request is refused
                log.warning("sessionward keys: %s: %s", type(exc).__name__, exc)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.1
            self._check_ready()
            await anyio.sleep(self._refresh_interval)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_and_follow() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        try:
            await self.app(scope, receive_and_follow, send)
        finally:
            if self._task is not None:  # started here and the app's lifespan ended without a shutdown
                await self.aclose()

    # -- requests ------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind not in ("http", "websocket") or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        scope.pop(SCOPE_KEY, None)
        if not self.ready and not self._closed:
            await (self.start() if self._task is None else self._wait_ready())
        if not self.ready:
            await _deny(scope, send, *_UNAVAILABLE)
            return
        try:
            principal = await self._principal(scope)
        except _Denied as denied:
            log.debug("sessionward: token refused (%s)", denied.reason)
            await _deny(scope, send, *_INVALID_TOKEN)
            return
        except CannotProve as exc:
            log.warning("sessionward: a session could not be proven alive: %s", exc)
            await _deny(scope, send, *_CANNOT_PROVE)
            return
        scope[SCOPE_KEY] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> Principal:
        assert self._verifier is not None and self._keys is not None
        token = _bearer(scope)
        try:
            try:
                claims = self._verifier.verify(token, self._clock())
            except TokenRejected as exc:
                # A kid not known yet may be a new key of the issuer: look again, within the refetch budget.
                if exc.reason != "unknown_kid" or not await self._keys.refetch_for_unknown_kid():
                    raise
                claims = self._verifier.verify(token, self._clock())
        except TokenRejected as exc:
            raise _Denied(exc.reason) from None
        if claims.cnf_jkt is not None:
            raise _Denied("key_bound")  # a DPoP-bound token needs a proof of possession this SDK does not check
        if self._feed.is_revoked(claims.sid, claims.sub, claims.iat):
            raise _Denied("revoked")
        sessions = self._sessions
        if sessions is not None and not sessions.known(claims):
            assert self._http is not None
            try:
                await sessions.prove(self._http, self._auth, token, claims)
            except SessionUnknown:
                raise _Denied("unknown_session") from None
            # An ending that arrived while sessionward was asked.
            if self._feed.is_revoked(claims.sid, claims.sub, claims.iat):
                raise _Denied("revoked")
        return Principal.from_claims(claims)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sessionward SDK background work stopped; every request is refused", exc_info=task.exception())


async def _deny(
    scope: Scope, send: Send, status: int, code: str, text: str, headers: list[tuple[bytes, bytes]]
) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server refuse the handshake (403).
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1008, "reason": code})
        return
    body = json.dumps({"error": code, "error_description": text}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
