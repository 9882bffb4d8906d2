"""DPoP proofs (RFC 9449): pure verification of one proof JWT against the request it came with.

No I/O and no clock: the caller passes `now`, and keeps the replay cache (a proof's `jti` may be used once
within the window; `DpopProof.jti` and `.jkt` are what it keys on). Everything about the proof is checked
here: compact form, size, canonical base64url, `typ` exactly "dpop+jwt", an asymmetric algorithm bound to the
key type of the embedded public `jwk` (never a private or symmetric one), the signature by that key, and the
claims `jti`, `htm`, `htu`, `iat`, `ath` and `nonce`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sessionward.crypto._b64 import b64url_decode, b64url_encode, json_object
from sessionward.crypto._errors import TokenRejected
from sessionward.crypto._sig import P256_ORDER
from sessionward.crypto.keys import PRIVATE_JWK_MEMBERS, RSA_MAX_BITS, RSA_MIN_BITS

__all__ = [
    "DPOP_ALGORITHMS",
    "DpopProof",
    "DpopRejected",
    "access_token_hash",
    "jwk_thumbprint",
    "normalise_htu",
    "verify_proof",
]

# The proof algorithms accepted, the one list every part reads (verification, the `WWW-Authenticate` algs,
# discovery's `dpop_signing_alg_values_supported`). Ed25519 goes by two names: "EdDSA" (RFC 8037) and the fully
# specified "Ed25519" (RFC 9864, what current jose and oauth4webapi sign); both mean an OKP key on Ed25519 only
# (Ed448, which "EdDSA" also covers, is not supported).
DPOP_ALGORITHMS: Final = ("ES256", "RS256", "PS256", "EdDSA", "Ed25519")
MAX_PROOF_BYTES: Final = 8192  # an RSA-8192 jwk and its signature fit; nothing honest comes near
MIN_JTI_LENGTH: Final = 16
MAX_JTI_LENGTH: Final = 256
MAX_NONCE_LENGTH: Final = 512
_KTY: Final = {"ES256": "EC", "RS256": "RSA", "PS256": "RSA", "EdDSA": "OKP", "Ed25519": "OKP"}
# The `alg` a proof's `jwk` may name (when it names one) for each proof algorithm: the two Ed25519 names are one.
_JWK_ALGS: Final = {
    "ES256": ("ES256",),
    "RS256": ("RS256",),
    "PS256": ("PS256",),
    "EdDSA": ("EdDSA", "Ed25519"),
    "Ed25519": ("EdDSA", "Ed25519"),
}
# The members of each public key type's JWK (RFC 7638 section 3.2: exactly these enter the thumbprint).
_PUBLIC_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}
# Header members that point at other keys: the proof's key is its `jwk`, nothing else.
_FORBIDDEN_HEADERS: Final = frozenset(("jku", "x5u", "x5c", "kid", "crit"))
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}
_SHA256: Final = hashes.SHA256()
_PSS: Final = padding.PSS(mgf=padding.MGF1(_SHA256), salt_length=32)  # RFC 7518 3.5: salt = hash length

# Every reason verify_proof gives (for the audit log; callers answer one opaque error).
REASONS: Final = frozenset(
    {
        "missing",
        "malformed",
        "oversized",
        "bad_typ",
        "bad_alg",
        "bad_jwk",
        "private_jwk",
        "forbidden_header",
        "bad_signature",
        "bad_jti",
        "bad_htm",
        "bad_htu",
        "bad_iat",
        "stale",
        "from_future",
        "bad_ath",
        "wrong_key",
        "use_dpop_nonce",
        "replayed",
    }
)


class DpopRejected(Exception):
    """The one exception of this module; `reason` (one of REASONS) is for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DpopProof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's key, base64url
    jti: str
    iat: int


def access_token_hash(token: str) -> str:
    """The `ath` of a proof presented with `token`: base64url(SHA-256(ASCII token))."""
    return b64url_encode(hashlib.sha256(token.encode("utf-8")).digest())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required public members, sorted, no whitespace. `jwk` must be validated."""
    members = _PUBLIC_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def normalise_htu(url: str) -> str:
    """scheme://host[:port]/path: lower-case scheme and host, no default port, no query or fragment.

    ValueError for anything that is not an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        raise ValueError("not an absolute http(s) URL")
    host = parts.hostname.lower()  # urlsplit strips the brackets of an IPv6 literal
    if ":" in host:
        host = f"[{host}]"
    port = parts.port  # ValueError for a bad port
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def _bytes(jwk: Mapping[str, Any], name: str, length: int | None = None) -> bytes:
    value = jwk.get(name)
    if type(value) is not str:
        raise DpopRejected("bad_jwk")
    try:
        raw = b64url_decode(value)
    except TokenRejected:
        raise DpopRejected("bad_jwk") from None
    if length is not None and len(raw) != length:
        raise DpopRejected("bad_jwk")
    return raw


def _public_key(jwk: object, alg: str) -> tuple[Any, dict[str, Any]]:
    if type(jwk) is not dict:
        raise DpopRejected("bad_jwk")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise DpopRejected("private_jwk")
    kty = _KTY[alg]
    if jwk.get("kty") != kty:
        raise DpopRejected("bad_jwk")
    if "alg" in jwk and jwk["alg"] not in _JWK_ALGS[alg]:
        raise DpopRejected("bad_jwk")
    try:
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                raise DpopRejected("bad_jwk")
            x = int.from_bytes(_bytes(jwk, "x", 32), "big")
            y = int.from_bytes(_bytes(jwk, "y", 32), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key(), jwk  # checks the point
        if kty == "RSA":
            n_raw, e_raw = _bytes(jwk, "n"), _bytes(jwk, "e")
            # Minimal encodings only (RFC 7518 6.3.1): no leading zero octets, so one key has one thumbprint.
            if n_raw[0] == 0 or e_raw[0] == 0 or len(e_raw) > 4:
                raise DpopRejected("bad_jwk")
            n, e = int.from_bytes(n_raw, "big"), int.from_bytes(e_raw, "big")
            if not RSA_MIN_BITS <= n.bit_length() <= RSA_MAX_BITS or e < 3 or e % 2 == 0:
                raise DpopRejected("bad_jwk")
            return rsa.RSAPublicNumbers(e, n).public_key(), jwk
        if jwk.get("crv") != "Ed25519":
            raise DpopRejected("bad_jwk")
        return ed25519.Ed25519PublicKey.from_public_bytes(_bytes(jwk, "x", 32)), jwk
    except ValueError:
        raise DpopRejected("bad_jwk") from None


def _verify_signature(key: Any, alg: str, signature: bytes, data: bytes) -> None:
    try:
        if alg == "ES256":
            if len(signature) != 64:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
                raise InvalidSignature
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(_SHA256))
        elif alg in ("RS256", "PS256"):
            if len(signature) != (key.key_size + 7) // 8:
                raise InvalidSignature
            key.verify(signature, data, padding.PKCS1v15() if alg == "RS256" else _PSS, _SHA256)
        else:  # EdDSA / Ed25519: the key was checked to be an Ed25519 one
            if len(signature) != 64:
                raise InvalidSignature
            key.verify(signature, data)
    except InvalidSignature:
        raise DpopRejected("bad_signature") from None


def _iat(value: object) -> int:
    if type(value) is int:
        return value
    if type(value) is float and math.isfinite(value) and value.is_integer():
        return int(value)
    raise DpopRejected("bad_iat")


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None,
    expected_jkt: str | None,
    nonce: str | Collection[str] | None,
    max_age: float,
    leeway: float,
) -> DpopProof:
    """The proof's key thumbprint, jti and iat, or DpopRejected naming the first rule it breaks.

    `url` is the request's URL as the server is named (its issuer plus the path); `access_token`, when given,
    must be what `ath` hashes; `expected_jkt`, when given, must be the proof key's thumbprint; `nonce`, when
    given, is the value (or the values) the server currently accepts, and a proof without one of them is
    "use_dpop_nonce". `iat` must lie within [now - max_age, now + leeway].
    """
    if not proof:
        raise DpopRejected("missing")
    if type(proof) is not str:
        raise DpopRejected("malformed")
    if len(proof) > MAX_PROOF_BYTES:
        raise DpopRejected("oversized")
    parts = proof.split(".")
    if len(parts) != 3 or not proof.isascii():
        raise DpopRejected("malformed")
    try:
        header = json_object(parts[0])
        signature = b64url_decode(parts[2])
    except (TokenRejected, RecursionError):
        raise DpopRejected("malformed") from None
    if header.get("typ") != "dpop+jwt":
        raise DpopRejected("bad_typ")
    alg = header.get("alg")
    if type(alg) is not str or alg not in DPOP_ALGORITHMS:
        raise DpopRejected("bad_alg")  # none, HS*, and anything we do not verify
    if not _FORBIDDEN_HEADERS.isdisjoint(header):
        raise DpopRejected("forbidden_header")
    key, jwk = _public_key(header.get("jwk"), alg)
    _verify_signature(key, alg, signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    jkt = jwk_thumbprint(jwk)
    # Only now, with the signature good, is the payload parsed.
    try:
        claims = json_object(parts[1])
    except (TokenRejected, RecursionError):
        raise DpopRejected("malformed") from None

    jti = claims.get("jti")
    if type(jti) is not str or not MIN_JTI_LENGTH <= len(jti) <= MAX_JTI_LENGTH:
        raise DpopRejected("bad_jti")
    if claims.get("htm") != method:
        raise DpopRejected("bad_htm")
    htu = claims.get("htu")
    try:
        if type(htu) is not str or normalise_htu(htu) != normalise_htu(url):
            raise DpopRejected("bad_htu")
    except ValueError:
        raise DpopRejected("bad_htu") from None
    iat = _iat(claims.get("iat"))
    if not now - max_age <= iat:
        raise DpopRejected("stale")
    if not iat <= now + leeway:
        raise DpopRejected("from_future")  # (a NaN `now` fails one of the two)
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DpopRejected("bad_ath")
    if expected_jkt is not None and jkt != expected_jkt:
        raise DpopRejected("wrong_key")
    if nonce is not None:
        given = claims.get("nonce")
        accepted = (nonce,) if isinstance(nonce, str) else nonce
        if type(given) is not str or len(given) > MAX_NONCE_LENGTH or given not in accepted:
            raise DpopRejected("use_dpop_nonce")
    return DpopProof(jkt, jti, iat)
