"""DPoP at the edges of the service (RFC 9449): proofs checked against the request, a replay cache, nonces.

The pure rules live in crypto/dpop.py; this adds what needs state: each proof's `jti` is accepted once per key
within the proof window (EphemeralStore.remember_once: in process, or Redis shared by every node), and the
server nonce (`tokens.dpop_nonce`).

Nonces are an HMAC of a 5-minute time bucket under a key derived from the active signing key's private key
(HMAC-SHA256 with its own label, so the nonce key says nothing about the signing key). Every node reads the
same signing keys from the durable store, so every node issues and accepts the same nonces without sharing
anything else; a key rotation changes them, and a client that holds an old one simply gets `use_dpop_nonce`
with the new one. The current and the previous bucket are accepted.

Every refusal is audited here as `dpop.rejected` with its reason, the address and the path, wherever the proof
came (sign-in, second step, refresh, or with an access token): a replayed proof at a token endpoint is the sign
of a stolen key. Never the proof itself; the key's thumbprint (public) when the refusal is a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from sessionward.config import Settings
from sessionward.core.audit import AuditEvent
from sessionward.crypto._b64 import b64url_encode
from sessionward.crypto.dpop import DpopProof, DpopRejected, verify_proof
from sessionward.errors import InvalidDpopProof, UseDpopNonce
from sessionward.services.keyring import KeyRingService
from sessionward.services.refusals import RefusalLog
from sessionward.stores.base import EphemeralStore

NONCE_PERIOD: Final = 300.0
_NONCE_LABEL: Final = b"sessionward dpop nonce v1"


@dataclass(frozen=True, slots=True)
class DpopRequest:
    """What a proof is checked against: the `DPoP` header values and the request as the issuer names it."""

    proofs: tuple[str, ...]
    method: str
    url: str
    ip: str = ""  # the client's address, for the audit record of a refusal


class DpopService:
    def __init__(
        self, settings: Settings, keyring: KeyRingService, replays: EphemeralStore, audit: RefusalLog | None = None
    ) -> None:
        self._audit = audit
        self._settings = settings
        self._keyring = keyring
        self._replays = replays
        self._max_age = settings.tokens.dpop_max_age
        self._leeway = settings.tokens.leeway
        self._nonce_key: tuple[str, bytes] | None = None

    @property
    def nonce_required(self) -> bool:
        return self._settings.tokens.dpop_nonce

    def _key(self) -> bytes:
        signing = self._keyring.current().active(self._settings.tokens.algorithm)
        cached = self._nonce_key
        if cached is None or cached[0] != signing.kid:
            der = signing.private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            cached = (signing.kid, hmac.new(der, _NONCE_LABEL, hashlib.sha256).digest())
            self._nonce_key = cached
        return cached[1]

    def _nonce_of(self, bucket: int) -> str:
        return b64url_encode(hmac.new(self._key(), str(bucket).encode(), hashlib.sha256).digest())

    def nonce(self, now: float) -> str:
        """The nonce a client should put in its next proofs (sent in the `DPoP-Nonce` header)."""
        return self._nonce_of(math.floor(now / NONCE_PERIOD))

    def _accepted_nonces(self, now: float) -> frozenset[str]:
        bucket = math.floor(now / NONCE_PERIOD)
        return frozenset((self._nonce_of(bucket), self._nonce_of(bucket - 1)))

    async def check(
        self,
        request: DpopRequest,
        now: float,
        *,
        access_token: str | None = None,
        expected_jkt: str | None = None,
        at_token_endpoint: bool = False,
    ) -> DpopProof:
        """The valid, first-seen proof of `request`; InvalidDpopProof (or UseDpopNonce) otherwise, audited."""
        try:
            return await self._check(request, now, access_token, expected_jkt, at_token_endpoint)
        except InvalidDpopProof as exc:
            if self._audit is not None:
                data = {"reason": exc.reason, "ip": request.ip, "method": request.method[:16]}
                data["path"] = urlsplit(request.url).path[:256]
                if exc.jkt is not None:
                    data["jkt"] = exc.jkt
                await self._audit.record(AuditEvent("dpop.rejected", data), now)
            raise

    async def _check(
        self,
        request: DpopRequest,
        now: float,
        access_token: str | None,
        expected_jkt: str | None,
        at_token_endpoint: bool,
    ) -> DpopProof:
        if len(request.proofs) != 1:
            raise InvalidDpopProof("missing" if not request.proofs else "several_proofs", at_token_endpoint)
        try:
            proof = verify_proof(
                request.proofs[0],
                method=request.method,
                url=request.url,
                now=now,
                access_token=access_token,
                expected_jkt=expected_jkt,
                nonce=self._accepted_nonces(now) if self.nonce_required else None,
                max_age=self._max_age,
                leeway=self._leeway,
            )
        except DpopRejected as exc:
            if exc.reason == "use_dpop_nonce":
                raise UseDpopNonce(self.nonce(now), at_token_endpoint) from None
            raise InvalidDpopProof(exc.reason, at_token_endpoint) from None
        # Remembered until the proof's iat leaves the acceptance window, whoever's clock is ahead.
        keep_for = max(1.0, proof.iat + self._max_age + self._leeway - now + 1.0)
        jti = hashlib.sha256(proof.jti.encode("utf-8")).hexdigest()
        if not await self._replays.remember_once(f"dpop:jti:{proof.jkt}:{jti}", now, keep_for):
            # Whose key: a replay is the sign of a stolen proof, or key.
            raise InvalidDpopProof("replayed", at_token_endpoint, jkt=proof.jkt)
        return proof
