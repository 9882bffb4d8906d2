"""Wiring: one settings object in, every service out. No globals: callers hold the Services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sessionward.clock import Clock, SystemClock
from sessionward.config import Settings
from sessionward.services.auth import AuthService
from sessionward.services.clients import ClientService
from sessionward.services.keyring import KeyRingService
from sessionward.services.passwords import Passwords
from sessionward.services.revocation import RevocationState
from sessionward.services.sessions import SessionService
from sessionward.services.tokens import TokenService
from sessionward.stores.base import DurableStore, EphemeralStore
from sessionward.stores.memory import MemoryEphemeralStore
from sessionward.stores.sql import REVOCATION_PAGE, SqlStore, sqlite_url


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

    async def close(self) -> None:
        await self.store.close()

    async def sync_revocations(self) -> None:
        """Brings this node's revocation state up to the store's feed."""
        now = self.clock.now()
        while True:
            entries = await self.store.revocations_since(self.revocations.cursor, now)
            self.revocations.apply_feed(entries)
            if len(entries) < REVOCATION_PAGE:
                break
        self.revocations.sweep(now)


def database_url(settings: Settings) -> str:
    return settings.storage.database_url or sqlite_url(Path(settings.storage.data_dir))


async def open_services(settings: Settings, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    # A retired key, or an ended session's id, must be known as long as any token it concerns may live.
    token_life = settings.max_access_token_ttl + settings.tokens.leeway
    store = SqlStore(database_url(settings), revocation_ttl=token_life)
    await store.initialize()
    ephemeral = MemoryEphemeralStore()
    keyring = KeyRingService(store, retire_grace=token_life)
    await keyring.reload()
    revocations = RevocationState(keep_for=token_life)
    passwords = Passwords(settings.passwords)
    tokens = TokenService(settings, keyring, revocations, store)
    auth = AuthService(settings, store, ephemeral, passwords, tokens, revocations, clock)
    sessions = SessionService(settings, store, passwords, tokens, revocations, clock)
    clients = ClientService(settings, store, tokens, sessions, clock)
    services = Services(
        settings, clock, store, ephemeral, keyring, revocations, passwords, tokens, auth, sessions, clients
    )
    await services.sync_revocations()
    return services
