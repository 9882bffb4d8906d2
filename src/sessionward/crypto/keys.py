"""Signing keys, their public JWKs, and the immutable KeyRing snapshot the verifier reads without locks."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final, Literal, NoReturn, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sessionward.crypto._b64 import b64url_encode
from sessionward.crypto._ring import ImmutableRing

Algorithm = Literal["ES256", "RS256"]
KeyState = Literal["active", "retired"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

ALGORITHMS: Final[tuple[Algorithm, ...]] = ("ES256", "RS256")
KEY_STATES: Final[tuple[KeyState, ...]] = ("active", "retired")
# 2048-bit RSA verifies ~3x faster than 3072 and is acceptable through 2030 (NIST SP 800-57); a key outlives
# no more than one rotation period, and ES256 is the default algorithm anyway.
RSA_GENERATE_BITS: Final = 2048
RSA_MIN_BITS: Final = 2048
RSA_MAX_BITS: Final = 8192  # bounds the verify cost an operator-supplied key can impose
RSA_EXPONENT: Final = 65537
MAX_KID_LENGTH: Final = 128
_ALGORITHM_NAMES: Final[dict[object, Algorithm]] = {a: a for a in ALGORITHMS}
# Members only a private or symmetric JWK has: a JWK from outside carrying them is leaking a secret.
PRIVATE_JWK_MEMBERS: Final = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))
_STATE_NAMES: Final[dict[object, KeyState]] = {s: s for s in KEY_STATES}
_KID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_KID_LENGTH}}}")


def _bad(message: str) -> NoReturn:
    raise ValueError(message)


def _is_time(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key bound to exactly one algorithm. Construction validates it, whatever path built it."""

    kid: str
    alg: Algorithm
    private_key: PrivateKey = field(repr=False, compare=False)
    created_at: float
    state: KeyState = "active"
    verify_until: float | None = None
    # Derived once here so the verify path never re-derives them (package-private).
    _rsa_public: rsa.RSAPublicKey | None = field(init=False, repr=False, compare=False)
    _ec_public: ec.EllipticCurvePublicKey | None = field(init=False, repr=False, compare=False)
    _signature_length: int = field(init=False, repr=False, compare=False)
    # Verifies while now < _deadline: +inf when active, verify_until (or -inf) when retired.
    _deadline: float = field(init=False, repr=False, compare=False)
    # SubjectPublicKeyInfo DER: identifies the key material across reloads of the same key.
    _fingerprint: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.kid) is not str or _KID.fullmatch(self.kid) is None:
            _bad("signing key: kid must be 1-128 characters of A-Z a-z 0-9 _ -")
        rsa_public: rsa.RSAPublicKey | None = None
        ec_public: ec.EllipticCurvePublicKey | None = None
        if self.alg == "RS256":
            if not isinstance(self.private_key, rsa.RSAPrivateKey):
                _bad(f"signing key {self.kid}: RS256 needs an RSA key")
            bits = self.private_key.key_size
            if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
                _bad(f"signing key {self.kid}: RSA modulus of {bits} bits, need {RSA_MIN_BITS}-{RSA_MAX_BITS}")
            rsa_public = self.private_key.public_key()
            if rsa_public.public_numbers().e != RSA_EXPONENT:
                _bad(f"signing key {self.kid}: RSA public exponent must be {RSA_EXPONENT}")
            public: PublicKey = rsa_public
            signature_length = (bits + 7) // 8
        elif self.alg == "ES256":
            if not isinstance(self.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
                self.private_key.curve, ec.SECP256R1
            ):
                _bad(f"signing key {self.kid}: ES256 needs an EC key on P-256")
            public = ec_public = self.private_key.public_key()
            signature_length = 64
        else:
            _bad(f"signing key {self.kid}: alg must be one of {', '.join(ALGORITHMS)}")
        if self.state not in KEY_STATES:
            _bad(f"signing key {self.kid}: state must be one of {', '.join(KEY_STATES)}")
        if not _is_time(self.created_at):
            _bad(f"signing key {self.kid}: created_at must be a finite number")
        if self.verify_until is not None and not _is_time(self.verify_until):
            _bad(f"signing key {self.kid}: verify_until must be a finite number or None")
        if self.state == "active":
            deadline = math.inf
        else:
            deadline = -math.inf if self.verify_until is None else float(self.verify_until)
        fingerprint = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for name, value in (
            ("_rsa_public", rsa_public),
            ("_ec_public", ec_public),
            ("_signature_length", signature_length),
            ("_deadline", deadline),
            ("_fingerprint", fingerprint),
        ):
            object.__setattr__(self, name, value)

    @property
    def public_key(self) -> PublicKey:
        public = self._rsa_public or self._ec_public
        assert public is not None
        return public

    def verifies_at(self, now: float) -> bool:
        """Active, or retired with now < verify_until. A NaN `now` verifies nothing."""
        return now < self._deadline


class VerificationKey(Protocol):
    """What the verifier reads of a key: a SigningKey, or a public-only key from a JWKS (crypto/jwks.py)."""

    @property
    def kid(self) -> str: ...
    @property
    def alg(self) -> Algorithm: ...
    @property
    def _rsa_public(self) -> rsa.RSAPublicKey | None: ...
    @property
    def _ec_public(self) -> ec.EllipticCurvePublicKey | None: ...
    @property
    def _signature_length(self) -> int: ...
    @property
    def _deadline(self) -> float: ...
    @property
    def _fingerprint(self) -> bytes: ...


class VerificationRing(Protocol):
    """What the verifier reads of a key set: a KeyRing, or a PublicKeyRing built from a JWKS."""

    def for_verification(self, kid: object, now: float) -> VerificationKey | None: ...


def generate_key(alg: Algorithm, now: float) -> SigningKey:
    private_key: PrivateKey
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=RSA_GENERATE_BITS)
    elif alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        _bad(f"alg must be one of {', '.join(ALGORITHMS)}")
    # 128 random bits: kids are unguessable and never collide across nodes.
    return SigningKey(secrets.token_urlsafe(16), alg, private_key, now)


def private_key_pem(key: SigningKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the store encrypts it under the key-encryption key before it is written."""
    return key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_signing_key(
    kid: str, alg: str, pem: bytes, created_at: float, state: str, verify_until: float | None
) -> SigningKey:
    """Rebuilds a stored key, validating everything. Error messages never contain key material."""
    if type(kid) is not str or _KID.fullmatch(kid) is None:
        _bad("signing key: kid must be 1-128 characters of A-Z a-z 0-9 _ -")
    checked_alg = _ALGORITHM_NAMES.get(alg) if type(alg) is str else None
    if checked_alg is None:
        _bad(f"signing key {kid}: alg must be one of {', '.join(ALGORITHMS)}")
    checked_state = _STATE_NAMES.get(state) if type(state) is str else None
    if checked_state is None:
        _bad(f"signing key {kid}: state must be one of {', '.join(KEY_STATES)}")
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # `from None`: the parser's own exception may describe the input; keep it out of logs.
        raise ValueError(f"signing key {kid}: not an unencrypted PEM private key") from None
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        _bad(f"signing key {kid}: only RSA and EC keys are supported")
    return SigningKey(kid, checked_alg, private_key, created_at, checked_state, verify_until)


def _uint(value: int, length: int = 0) -> str:
    return b64url_encode(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The public members only (RFC 7517/7518); the private ones are never read here."""
    if key._rsa_public is not None:
        rsa_numbers = key._rsa_public.public_numbers()
        members = {"kty": "RSA", "n": _uint(rsa_numbers.n), "e": _uint(rsa_numbers.e)}
    else:
        assert key._ec_public is not None
        ec_numbers = key._ec_public.public_numbers()
        members = {"kty": "EC", "crv": "P-256", "x": _uint(ec_numbers.x, 32), "y": _uint(ec_numbers.y, 32)}
    return {**members, "kid": key.kid, "alg": key.alg, "use": "sig"}


def retire(key: SigningKey, now: float, max_token_lifetime: float) -> SigningKey:
    """Stops signing; issued tokens verify for `max_token_lifetime` more. Never extends a retirement."""
    if not _is_time(max_token_lifetime) or max_token_lifetime < 0:
        _bad("max_token_lifetime must be a finite number >= 0")
    verify_until = now + max_token_lifetime
    if key.state == "retired" and key.verify_until is not None:
        verify_until = min(verify_until, key.verify_until)
    return replace(key, state="retired", verify_until=verify_until)


class KeyRing(ImmutableRing[SigningKey]):
    """Immutable snapshot of the keys. Replaced wholesale when keys change (so readers never lock)."""

    __slots__ = ("_active",)
    _holds = SigningKey
    _active: dict[str, SigningKey]

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        super().__init__(keys)
        active: dict[str, SigningKey] = {}
        for key in self._keys:
            current = active.get(key.alg)
            # Ties broken by kid so that every node picks the same key from the same rows.
            if key.state == "active" and (
                current is None or (key.created_at, key.kid) > (current.created_at, current.kid)
            ):
                active[key.alg] = key
        object.__setattr__(self, "_active", active)

    def __repr__(self) -> str:
        return f"KeyRing({', '.join(f'{k.kid}:{k.alg}:{k.state}' for k in self._keys)})"

    def active(self, alg: Algorithm) -> SigningKey:
        """The newest active key of that algorithm; KeyError if there is none."""
        try:
            return self._active[alg]
        except KeyError:
            raise KeyError(f"no active {alg} key") from None

    def jwks(self, now: float) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(k) for k in self._keys if k.verifies_at(now)]}
