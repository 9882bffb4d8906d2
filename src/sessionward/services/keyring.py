"""The signing keys: created on first run, rotated on demand, reloaded so every process sees rotations."""

from __future__ import annotations

from sessionward.core.audit import AuditEvent
from sessionward.core.models import StoredKey
from sessionward.crypto.keys import (
    ALGORITHMS,
    Algorithm,
    KeyRing,
    SigningKey,
    generate_key,
    load_signing_key,
    private_key_pem,
    public_jwk,
)
from sessionward.stores.base import KeyStore


def ordered_jwks(ring: KeyRing, now: float, algorithm: Algorithm) -> dict[str, list[dict[str, str]]]:
    """The public JWKS with the keys of `algorithm` (the one tokens are signed with) first, the newest first.

    Clients should select a key by kid; some (python-jose) try the first key that fits the token's algorithm
    family and fail when an EC key comes before the RSA key of an RS256 token.
    """
    keys = sorted(
        (k for k in ring.keys if k.verifies_at(now)),
        key=lambda k: (k.alg != algorithm, k.state != "active", -k.created_at, k.kid),
    )
    return {"keys": [public_jwk(k) for k in keys]}


def _stored(key: SigningKey) -> StoredKey:
    return StoredKey(key.kid, key.alg, private_key_pem(key), key.created_at, key.state, key.verify_until)


class KeyRingService:
    def __init__(self, store: KeyStore, retire_grace: float) -> None:
        """`retire_grace`: how long a retired key keeps verifying (the longest token lifetime plus leeway)."""
        self._store = store
        self._retire_grace = retire_grace
        self._ring = KeyRing(())

    def current(self) -> KeyRing:
        return self._ring

    async def reload(self) -> KeyRing:
        stored = await self._store.list_keys()
        self._ring = KeyRing(
            load_signing_key(k.kid, k.alg, k.private_pem, k.created_at, k.state, k.verify_until) for k in stored
        )
        return self._ring

    async def ensure_keys(self, now: float) -> list[SigningKey]:
        """Creates an active key for every algorithm that has none (first run). Returns the keys made."""
        ring = await self.reload()
        made = []
        for alg in ALGORITHMS:
            try:
                ring.active(alg)
            except KeyError:
                key = generate_key(alg, now)
                await self._store.add_key(
                    _stored(key), (), [AuditEvent("key.created", {"kid": key.kid, "alg": alg})], now
                )
                made.append(key)
        if made:
            await self.reload()
        return made

    async def rotate(self, now: float, algorithms: tuple[Algorithm, ...] = ALGORITHMS) -> list[SigningKey]:
        """A new active key per algorithm; the old active keys retire and verify until their tokens expire."""
        ring = await self.reload()
        made = []
        for alg in algorithms:
            old = [k for k in ring.keys if k.alg == alg and k.state == "active"]
            key = generate_key(alg, now)
            verify_until = now + self._retire_grace
            events = [AuditEvent("key.rotated", {"kid": key.kid, "alg": alg, "replaces": [k.kid for k in old]})]
            events += [AuditEvent("key.retired", {"kid": k.kid, "alg": alg, "verify_until": verify_until}) for k in old]
            await self._store.add_key(_stored(key), [(k.kid, verify_until) for k in old], events, now)
            made.append(key)
        await self.reload()
        return made
