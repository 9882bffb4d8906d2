"""Argon2id hashing, off the event loop, with a bounded number of hashes in flight."""

from __future__ import annotations

import os

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sessionward.config import PasswordSettings


class Passwords:
    def __init__(self, params: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # Each hash holds memory_cost KiB: bound how many run at once so a login flood cannot exhaust memory.
        self._limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
        # An unknown user's login is checked against this, so it takes as long as a known user's.
        self._dummy_hash = self._hasher.hash("sessionward-timing-equalizer")

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    def _verify_sync(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True only when `stored_hash` exists and matches; None still costs one full verification."""
        return await anyio.to_thread.run_sync(self._verify_sync, stored_hash, password, limiter=self._limiter)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
