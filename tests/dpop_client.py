"""A DPoP client for the tests (RFC 9449), built over `cryptography` and the stdlib only, not our verifier.

`DpopKey.proof(...)` makes one proof JWT; every field can be overridden or dropped (MISSING) to build the bad
ones, and `header_extra`/`alg`/`typ` shape the header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

MISSING: Any = object()
_RSA_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def _uint(n: int) -> str:
    return b64url(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


@dataclass
class DpopKey:
    alg: str = "ES256"
    private: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.private is None:
            if self.alg == "ES256":
                self.private = ec.generate_private_key(ec.SECP256R1())
            elif self.alg in ("RS256", "PS256"):
                # RSA generation is slow: one key per process is enough for the tests.
                self.private = _RSA_KEYS.setdefault(
                    2048, rsa.generate_private_key(public_exponent=65537, key_size=2048)
                )
            else:
                self.private = ed25519.Ed25519PrivateKey.generate()

    @property
    def jwk(self) -> dict[str, str]:
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            nums = public.public_numbers()
            return {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(nums.x.to_bytes(32, "big")),
                "y": b64url(nums.y.to_bytes(32, "big")),
            }
        if isinstance(public, rsa.RSAPublicKey):
            rn = public.public_numbers()
            return {"kty": "RSA", "n": _uint(rn.n), "e": _uint(rn.e)}
        from cryptography.hazmat.primitives import serialization

        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}

    @property
    def jkt(self) -> str:
        jwk = self.jwk
        members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
        canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def sign(self, data: bytes) -> bytes:
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if self.alg == "RS256":
            return bytes(self.private.sign(data, padding.PKCS1v15(), hashes.SHA256()))
        if self.alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            return bytes(self.private.sign(data, pss, hashes.SHA256()))
        return bytes(self.private.sign(data))

    def proof(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        nonce: str | None = None,
        iat: Any = None,
        jti: Any = None,
        typ: Any = "dpop+jwt",
        alg: Any = None,
        jwk: Any = None,
        header_extra: dict[str, Any] | None = None,
        claims_extra: dict[str, Any] | None = None,
        htm: Any = None,
        htu: Any = None,
    ) -> str:
        header: dict[str, Any] = {
            "typ": typ,
            "alg": self.alg if alg is None else alg,
            "jwk": self.jwk if jwk is None else jwk,
        }
        header.update(header_extra or {})
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16) if jti is None else jti,
            "htm": method if htm is None else htm,
            "htu": url if htu is None else htu,
            "iat": int(time.time()) if iat is None else iat,
        }
        if token is not None:
            claims["ath"] = ath(token)
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(claims_extra or {})
        header = {k: v for k, v in header.items() if v is not MISSING}
        claims = {k: v for k, v in claims.items() if v is not MISSING}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        return f"{signing_input}.{b64url(self.sign(signing_input.encode()))}"
