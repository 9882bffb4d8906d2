"""The ASGI application: routes, error mapping, security headers, and the services' lifetime."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.errors import SessionwardError
from sessionward.http import pages
from sessionward.http.errors import infrastructure_errors, on_domain_error, on_http_error, on_infrastructure_error
from sessionward.http.routes import admin, discovery, mfa, oauth, revocations, sessions
from sessionward.http.routing import exact_routes
from sessionward.http.security import SecurityHeaders
from sessionward.services.container import Services, open_services

log = logging.getLogger("sessionward")

# Another process (the CLI's `keys rotate`) may change the keys: every node re-reads them this often.
KEY_RELOAD_SECONDS = 5.0
# Revocations made elsewhere (the CLI, another node) reach this node's memory within this interval.
REVOCATION_POLL_SECONDS = 0.05
# Sessions that timed out are ended (and audited) by this sweep even if nobody comes back to them.
SWEEP_SECONDS = 30.0
# Ended sessions stay listed this long (for support and forensics) before they are purged; the audit trail
# keeps their story for good.
ENDED_SESSION_RETENTION = 7 * 86400.0
PURGE_SECONDS = 3600.0


async def _every(
    seconds: float, what: str, work: Callable[[], Awaitable[object]], stop: anyio.Event, at_start: bool = False
) -> None:
    """Runs `work` every `seconds` until `stop` (`at_start`: once at once too); a round in progress finishes
    (cancelling a database call half-way leaves its connection to a closed loop). A failure is logged once per
    outage, not every round."""
    failing = False
    wait = 0.0 if at_start else seconds
    while True:
        with anyio.move_on_after(wait):
            await stop.wait()
        wait = seconds
        if stop.is_set():
            return
        try:
            await work()
        except Exception as exc:  # a failed round keeps the last good state; say so once, keep serving
            if not failing:
                log.warning("%s failed (%s); retrying every %.2f s", what, type(exc).__name__, seconds)
            failing = True
        else:
            if failing:
                log.warning("%s works again", what)
            failing = False


async def _listen(svc: Services, stop: anyio.Event) -> None:
    """Revocations published by other nodes, applied as they arrive; the store's feed remains the safety net."""
    assert svc.redis is not None

    def on_state(subscribed: bool) -> None:
        if not subscribed:
            log.warning("lost the revocation subscription; the store's feed keeps this node in sync")

    await svc.redis.channel.listen(svc.revocations.apply, on_state, stop=stop)


async def _purge(svc: Services) -> None:
    now = svc.clock.now()
    await svc.store.purge(now - ENDED_SESSION_RETENTION, now)


async def _sweep(svc: Services) -> None:
    ended = await svc.store.expire_sessions(dict(svc.settings.policies), svc.clock.now())
    await svc.revocations.sessions_ended([s.sid for s in ended], svc.clock.now())


class SecuredStarlette(Starlette):
    """Starlette with SecurityHeaders as its outermost layer. Starlette puts its ServerErrorMiddleware outside
    every user middleware, so a middleware would miss the 500 of an unhandled exception; SPEC 6 wants HSTS on
    every response, that one included. Everything else (routes, state, lifespan) is Starlette's own."""

    def build_middleware_stack(self) -> ASGIApp:  # built once, on the first request
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        svc = await open_services(settings, clock)
        made = await svc.keyring.ensure_keys(svc.clock.now())
        for key in made:
            log.info("created signing key kid=%s alg=%s", key.kid, key.alg)
        app.state.services = svc
        stop = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_every, KEY_RELOAD_SECONDS, "reloading the signing keys", svc.keyring.reload, stop)
                tg.start_soon(
                    _every, REVOCATION_POLL_SECONDS, "reading the revocation feed", svc.sync_revocations, stop
                )
                tg.start_soon(_every, SWEEP_SECONDS, "ending timed-out sessions", lambda: _sweep(svc), stop)
                # Also once at start: a node restarted more often than hourly would otherwise never purge.
                tg.start_soon(_every, PURGE_SECONDS, "purging old sessions", lambda: _purge(svc), stop, True)
                if svc.redis is not None:
                    tg.start_soon(_listen, svc, stop)
                # Edge refusals reach the audit trail through this one writer, batched (services/refusals.py).
                tg.start_soon(svc.tokens.refusals.run, stop)
                try:
                    yield
                finally:
                    stop.set()
        finally:
            with anyio.CancelScope(shield=True):
                await svc.close()

    return SecuredStarlette(
        routes=exact_routes(
            [
                # The hot route (/v1/me, first of sessions.routes) first: Starlette tries routes in order, and a
                # path that matches with another method only is passed over for a later exact match.
                *sessions.routes,
                *discovery.routes,
                *mfa.routes,
                *admin.routes,
                *oauth.routes,
                *revocations.routes,
                *pages.routes,
            ]
        ),
        exception_handlers={
            SessionwardError: on_domain_error,
            HTTPException: on_http_error,
            **dict.fromkeys(infrastructure_errors(), on_infrastructure_error),
        },
        lifespan=lifespan,
    )
