"""Verification-only keys read from an issuer's JWKS (RFC 7517/7518), for the same strict TokenVerifier.

A relying application holds no private key: it builds a PublicKeyRing from the issuer's published JWKS and hands
it to `TokenVerifier`, which reads the same derived fields a SigningKey carries. Every key is checked as strictly
as a SigningKey (algorithm bound to the key type, RSA size and exponent, a point on P-256), and one bad key is
left out with a reason rather than spoiling the whole set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sessionward.crypto._b64 import b64url_decode
from sessionward.crypto._errors import TokenRejected
from sessionward.crypto._ring import ImmutableRing
from sessionward.crypto.keys import (
    _ALGORITHM_NAMES,
    _KID,
    ALGORITHMS,
    PRIVATE_JWK_MEMBERS,
    RSA_EXPONENT,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
    Algorithm,
    PublicKey,
)

__all__ = ["JwksKey", "PublicKeyRing", "load_jwks"]

_KTY: Final[dict[str, str]] = {"ES256": "EC", "RS256": "RSA"}
MAX_JWKS_KEYS: Final = 64  # more than any honest issuer publishes; bounds the work one document can cause


@dataclass(frozen=True, slots=True)
class JwksKey:
    """A public key bound to one algorithm; verifies for as long as it is in the issuer's JWKS."""

    kid: str
    alg: Algorithm
    public_key: PublicKey = field(repr=False, compare=False)
    # The fields TokenVerifier reads (the same names and meaning as on SigningKey).
    _rsa_public: rsa.RSAPublicKey | None = field(init=False, repr=False, compare=False)
    _ec_public: ec.EllipticCurvePublicKey | None = field(init=False, repr=False, compare=False)
    _signature_length: int = field(init=False, repr=False, compare=False)
    _deadline: float = field(init=False, repr=False, compare=False)
    _fingerprint: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.kid) is not str or _KID.fullmatch(self.kid) is None:
            raise ValueError("kid must be 1-128 characters of A-Z a-z 0-9 _ -")
        rsa_public: rsa.RSAPublicKey | None = None
        ec_public: ec.EllipticCurvePublicKey | None = None
        if self.alg == "RS256" and isinstance(self.public_key, rsa.RSAPublicKey):
            rsa_public = self.public_key
            bits = rsa_public.key_size
            if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
                raise ValueError(f"RSA modulus of {bits} bits, need {RSA_MIN_BITS}-{RSA_MAX_BITS}")
            if rsa_public.public_numbers().e != RSA_EXPONENT:
                raise ValueError(f"RSA public exponent must be {RSA_EXPONENT}")
            signature_length = (bits + 7) // 8
        elif (
            self.alg == "ES256"
            and isinstance(self.public_key, ec.EllipticCurvePublicKey)
            and isinstance(self.public_key.curve, ec.SECP256R1)
        ):
            ec_public = self.public_key
            signature_length = 64
        else:
            raise ValueError("the key does not fit its algorithm (RS256: RSA, ES256: EC on P-256)")
        fingerprint = self.public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for name, value in (
            ("_rsa_public", rsa_public),
            ("_ec_public", ec_public),
            ("_signature_length", signature_length),
            ("_deadline", math.inf),
            ("_fingerprint", fingerprint),
        ):
            object.__setattr__(self, name, value)

    def verifies_at(self, now: float) -> bool:
        return now < self._deadline


class PublicKeyRing(ImmutableRing[JwksKey]):
    """Immutable snapshot of an issuer's public keys; replaced wholesale when the JWKS is fetched again."""

    __slots__ = ()
    _holds = JwksKey

    def __repr__(self) -> str:
        return f"PublicKeyRing({', '.join(f'{k.kid}:{k.alg}' for k in self._keys)})"


def _uint(jwk: Mapping[str, object], name: str, length: int | None = None) -> int:
    value = jwk.get(name)
    if type(value) is not str:
        raise ValueError(f"'{name}' must be a base64url string")
    try:
        raw = b64url_decode(value)
    except TokenRejected:
        raise ValueError(f"'{name}' is not canonical base64url") from None
    if length is not None and len(raw) != length:
        raise ValueError(f"'{name}' must be exactly {length} bytes")
    return int.from_bytes(raw, "big")


def jwks_key(jwk: Mapping[str, object]) -> JwksKey:
    """One JWK as a verification key; ValueError naming the problem (never echoing key material)."""
    kid, alg = jwk.get("kid"), _ALGORITHM_NAMES.get(jwk.get("alg"))
    if type(kid) is not str or _KID.fullmatch(kid) is None:
        raise ValueError("kid must be 1-128 characters of A-Z a-z 0-9 _ -")
    if alg is None:
        raise ValueError(f"alg must be one of {', '.join(ALGORITHMS)}")
    if jwk.get("kty") != _KTY[alg]:
        raise ValueError(f"{alg} needs kty {_KTY[alg]}")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise ValueError("the JWK carries private or symmetric key members")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("use must be sig")
    ops = jwk.get("key_ops", ["verify"])
    if type(ops) is not list or "verify" not in ops:
        raise ValueError("key_ops must allow verify")
    public: PublicKey
    try:
        if alg == "RS256":
            public = rsa.RSAPublicNumbers(_uint(jwk, "e"), _uint(jwk, "n")).public_key()
        else:
            if jwk.get("crv") != "P-256":
                raise ValueError("ES256 needs crv P-256")
            x, y = _uint(jwk, "x", 32), _uint(jwk, "y", 32)
            public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()  # checks the point
    except ValueError as exc:
        raise ValueError(f"not a valid {alg} public key: {exc}") from None
    return JwksKey(kid, alg, public)


def load_jwks(document: object) -> tuple[PublicKeyRing, list[str]]:
    """The usable keys of a JWKS document, and one line per key left out (kid and reason, for the logs).

    ValueError when the document itself is not a JWKS. A kid that appears twice is left out both times: which
    of two keys it names would be a guess.
    """
    if type(document) is not dict or type(document.get("keys")) is not list:
        raise ValueError('a JWKS is an object with a "keys" array')
    entries: list[object] = document["keys"]
    if len(entries) > MAX_JWKS_KEYS:
        raise ValueError(f"a JWKS of more than {MAX_JWKS_KEYS} keys")
    keys: list[JwksKey] = []
    problems: list[str] = []
    for index, jwk in enumerate(entries):
        if type(jwk) is not dict:
            problems.append(f"key #{index}: not an object")
            continue
        try:
            keys.append(jwks_key(jwk))
        except ValueError as exc:
            kid = jwk.get("kid")
            name = kid if type(kid) is str and _KID.fullmatch(kid) else f"#{index}"
            problems.append(f"key {name}: {exc}")
    counts: dict[str, int] = {}
    for key in keys:
        counts[key.kid] = counts.get(key.kid, 0) + 1
    problems += [f"key {kid}: the kid appears {n} times" for kid, n in counts.items() if n > 1]
    return PublicKeyRing(k for k in keys if counts[k.kid] == 1), problems
