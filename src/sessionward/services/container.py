"""Wiring: one settings object in, every service out. No globals: callers hold the Services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio

from sessionward.clock import Clock, SystemClock
from sessionward.config import Settings
from sessionward.core.models import Revocation
from sessionward.crypto.kek import KekError, derive_key
from sessionward.crypto.kek_source import KekLocation, KekSource, kek_location
from sessionward.services.auth import AuthService
from sessionward.services.clients import ClientService
from sessionward.services.current_password import CurrentPassword
from sessionward.services.dpop import DpopService
from sessionward.services.keyring import KeyRingService
from sessionward.services.mfa import MfaService
from sessionward.services.passwords import Passwords
from sessionward.services.refusals import RefusalAudit
from sessionward.services.revocation import RevocationState
from sessionward.services.sessions import SessionService
from sessionward.services.throttling import PasswordGuesses, Throttle
from sessionward.services.tokens import TokenService
from sessionward.services.usernames import Usernames
from sessionward.services.webauthn import WebAuthnService
from sessionward.stores.base import DurableStore, EphemeralStore
from sessionward.stores.memory import MemoryEphemeralStore
from sessionward.stores.sql import SqlStore, sqlite_url

# Past this long without catching up with the store's revocation feed, a node asks the store per request.
REVOCATION_SYNC_BOUND = 1.0


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: DurableStore
    ephemeral: EphemeralStore
    keyring: KeyRingService
    revocations: RevocationState
    passwords: Passwords
    tokens: TokenService
    auth: AuthService
    sessions: SessionService
    clients: ClientService
    mfa: MfaService
    redis: SharedRedis | None = None
    dpop: DpopService | None = None
    # Where the key-encryption key came from (`keys rotate-kek` writes a new one there).
    keks: KekSource | None = None

    async def close(self) -> None:
        await self.store.close()
        if self.redis is not None:
            await self.redis.close()

    async def ping(self) -> None:
        """Every backing store answers, or this raises."""
        await self.store.ping()
        if self.redis is not None:
            await self.redis.ping()

    async def sync_revocations(self) -> None:
        """Brings this node's revocation state up to the store's feed."""
        now = self.clock.now()
        while True:
            page = await self.store.revocations_since(self.revocations.cursor, now)
            self.revocations.caught_up(page, page.scanned_to)
            if not page.full:
                break
        self.revocations.sweep(now)


class SharedRedis:
    """The Redis connection of a multi-node deployment and what rides on it."""

    def __init__(self, client: Any, channel: RevocationChannel) -> None:
        self.client = client
        self.channel = channel

    async def ping(self) -> None:
        from sessionward.stores.redis import redis_ping

        await redis_ping(self.client)

    async def close(self) -> None:
        await self.client.aclose()


class RevocationChannel(Protocol):
    async def publish(self, entries: Sequence[Revocation]) -> None: ...

    async def listen(
        self, on_entries: Callable[[list[Revocation]], None], on_state: Callable[[bool], None], *, stop: anyio.Event
    ) -> None: ...


async def _shared_redis(settings: Settings) -> tuple[EphemeralStore, SharedRedis | None]:
    if not settings.storage.redis_url:
        return MemoryEphemeralStore(), None
    from sessionward.stores.redis import RedisEphemeralStore, RedisRevocationChannel, connect_redis

    client = await connect_redis(settings.storage.redis_url, settings.storage.redis_pool_size)
    return RedisEphemeralStore(client), SharedRedis(client, RedisRevocationChannel(client))


def database_url(settings: Settings) -> str:
    return settings.storage.database_url or sqlite_url(Path(settings.storage.data_dir))


def kek_location_of(settings: Settings) -> KekLocation:
    storage = settings.storage
    return kek_location(storage.kek, storage.kek_file, storage.data_dir)


async def unlock_store(store: SqlStore, settings: Settings, now: float) -> KekSource:
    """Opens the secrets at rest with the configured key-encryption key, making the default key file on the
    first run (only while the database holds nothing encrypted: a lost key is never silently replaced).
    KekError naming the setting and where the key was read from otherwise."""
    location = kek_location_of(settings)
    try:
        keks = KekSource(location, create=not await store.holds_secrets())
        await store.unlock(keks, now)
    except KekError as exc:
        if exc.key == location.setting:
            raise
        raise KekError(f"{exc.detail} (the key-encryption key is read from {location.describe()})", exc.key) from None
    return keks


async def open_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    # A retired key, or an ended session's id, must be known as long as any token it concerns may live.
    token_life = settings.max_access_token_ttl + settings.tokens.leeway
    store = SqlStore(database_url(settings), revocation_ttl=token_life, pool_size=settings.storage.pool_size)
    try:
        await store.initialize()
        keks = await unlock_store(store, settings, clock.now())
    except BaseException:
        await store.close()
        raise
    ephemeral, redis = await _shared_redis(settings)
    keyring = KeyRingService(store, retire_grace=token_life)
    await keyring.reload()
    revocations = RevocationState(
        keep_for=token_life,
        sync_bound=REVOCATION_SYNC_BOUND,
        publish=redis.channel.publish if redis else None,
    )
    passwords = Passwords(settings.passwords)
    # Refusals anyone can cause cost bounded rows (services/refusals.py): bad tokens, DPoP proofs, client secrets.
    refusals = RefusalAudit(store, clock)
    dpop = DpopService(settings, keyring, ephemeral, refusals)
    tokens = TokenService(settings, keyring, revocations, store, dpop, refusals)
    webauthn = WebAuthnService(settings.server.issuer_url, store, clock)
    throttle = Throttle(ephemeral)
    identifier_key = derive_key(store.server_secret, "typed identifiers")
    guesses = PasswordGuesses(throttle, settings.login, identifier_key)
    current_password = CurrentPassword(store, passwords, guesses, clock)
    mfa = MfaService(settings, store, throttle, tokens, revocations, clock, webauthn, current_password)
    usernames = Usernames(store)
    auth = AuthService(
        settings,
        store,
        passwords,
        tokens,
        revocations,
        clock,
        mfa,
        usernames,
        guesses,
        identifier_key=identifier_key,
    )
    sessions = SessionService(settings, store, passwords, tokens, revocations, clock, current_password)
    clients = ClientService(settings, store, tokens, sessions, clock, usernames, throttle)
    services = Services(
        settings, clock, store, ephemeral, keyring, revocations, passwords, tokens, auth, sessions, clients, mfa, redis
    )
    services.dpop = dpop
    services.keks = keks
    await services.sync_revocations()
    return services
