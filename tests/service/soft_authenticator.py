"""A software WebAuthn authenticator (P-256, attestation "none") for tests without a browser.

It builds real registration and assertion answers, signed with its own key, and can be told to misbehave the way
an attacker or a broken client would: another origin or RP ID, no user verification, a stale signature counter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str = "localhost"
    user_verified: bool = True
    counting: bool = True  # False: an authenticator that keeps no counter (reports 0 every time)
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    user_handle: bytes = b""

    @property
    def id(self) -> str:
        return b64u(self.credential_id)

    def _flags(self, *more: int) -> bytes:
        flags = FLAG_UP | (FLAG_UV if self.user_verified else 0)
        for flag in more:
            flags |= flag
        return bytes([flags])

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return bytes(
            cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None) -> dict[str, Any]:
        """The answer of navigator.credentials.create() to the server's `{"publicKey": ...}` options."""
        public_key = options["publicKey"]
        self.user_handle = base64.urlsafe_b64decode(public_key["user"]["id"] + "==")
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + self._flags(FLAG_AT)
            + struct.pack(">I", self.sign_count)
            + bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {"clientDataJSON": b64u(client_data), "attestationObject": b64u(attestation)},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """The answer of navigator.credentials.get(); `count` forces the signature counter it reports."""
        public_key = options["publicKey"]
        if count is None:
            self.sign_count += 1 if self.counting else 0
            count = self.sign_count
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        auth_data = hashlib.sha256((rp_id or self.rp_id).encode()).digest() + self._flags() + struct.pack(">I", count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64u(client_data),
                "authenticatorData": b64u(auth_data),
                "signature": b64u(signature),
                "userHandle": b64u(self.user_handle),
            },
        }
