"""Attack-token builders: pure functions that return token strings, for firing at any verifier.

Everything is built by hand over `cryptography` and the stdlib (no JOSE library, and not our own signer), so the
same builders serve the unit tests and the suite that attacks the real HTTPS server. Builders take the
legitimate SigningKey (for its kid, algorithm and private key) and claims, and never verify anything.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import itertools
import json
import secrets
import socket
import threading
from collections.abc import Mapping
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from sessionward.crypto.keys import SigningKey

# Order n of the P-256 group.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Pass as an override to legit_claims to leave that claim out.
MISSING: Any = object()

AttackerKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# --- encoding helpers -------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def json_bytes(value: object) -> bytes:
    # allow_nan: attack payloads may want NaN/Infinity, which a strict verifier must refuse.
    return json.dumps(value, separators=(",", ":"), allow_nan=True).encode()


def segments(token: str) -> list[str]:
    return token.split(".")


def header_of(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[0])))


def payload_of(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def legit_claims(issuer: str, audience: str, now: float, **overrides: object) -> dict[str, object]:
    """A complete, valid RFC 9068 claim set as sessionward issues it; override or drop (MISSING) any claim."""
    t = int(now)
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": "user-" + secrets.token_hex(4),
        "aud": audience,
        "exp": t + 300,
        "iat": t,
        "nbf": t,
        "jti": secrets.token_urlsafe(24),
        "sid": secrets.token_urlsafe(24),
        "client_id": "forgery-client",
        "auth_time": t,
        "acr": "urn:sessionward:acr:pwd",
        "amr": ["pwd"],
    }
    for name, value in overrides.items():
        if value is MISSING:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


# --- signing by hand ----------------------------------------------------------------------------------------


def raw_sign(private_key: AttackerKey, data: bytes) -> bytes:
    """RS256 / ES256 (raw R||S) signature of `data`, whichever the key type is."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
    size = (private_key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def legit_header(key: SigningKey, typ: str | None = "at+jwt") -> dict[str, object]:
    header: dict[str, object] = {"alg": key.alg, "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    return header


def sign_parts(private_key: AttackerKey, header: bytes | Mapping[str, object], payload: bytes | object) -> str:
    """Compact JWS over arbitrary header/payload (objects are JSON-encoded, bytes are taken as they are)."""
    h = b64url(header if isinstance(header, bytes) else json_bytes(header))
    p = b64url(payload if isinstance(payload, bytes) else json_bytes(payload))
    return f"{h}.{p}.{b64url(raw_sign(private_key, f'{h}.{p}'.encode()))}"


def legit(key: SigningKey, claims: Mapping[str, object], typ: str | None = "at+jwt") -> str:
    """A correctly signed token (the control case every attack is a variation of)."""
    return sign_parts(key.private_key, legit_header(key, typ), dict(claims))


def with_header(key: SigningKey, claims: Mapping[str, object], extra_header: Mapping[str, object]) -> str:
    """Signed by the legitimate key, with extra or replaced header members (jku/x5u URLs, crit, typ...)."""
    return sign_parts(key.private_key, {**legit_header(key), **extra_header}, dict(claims))


def without_header(key: SigningKey, claims: Mapping[str, object], name: str) -> str:
    header = legit_header(key)
    header.pop(name, None)
    return sign_parts(key.private_key, header, dict(claims))


def raw_payload(key: SigningKey, payload: bytes, header: Mapping[str, object] | None = None) -> str:
    """Arbitrary payload bytes (NaN, non-UTF-8, BOM, deep nesting...) under a valid signature."""
    return sign_parts(key.private_key, dict(header or legit_header(key)), payload)


def raw_header(key: SigningKey, claims: Mapping[str, object], header: bytes) -> str:
    return sign_parts(key.private_key, header, dict(claims))


def duplicate_claim(key: SigningKey, claims: Mapping[str, object], name: str, second: object) -> str:
    """The payload carries `name` twice, the second time with `second` (a parser that keeps the last wins)."""
    body = json_bytes(dict(claims))[:-1] + b"," + json_bytes(name) + b":" + json_bytes(second) + b"}"
    return raw_payload(key, body)


def duplicate_header_member(key: SigningKey, claims: Mapping[str, object], name: str, second: object) -> str:
    body = json_bytes(legit_header(key))[:-1] + b"," + json_bytes(name) + b":" + json_bytes(second) + b"}"
    return raw_header(key, claims, body)


def nested_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- algorithm attacks --------------------------------------------------------------------------------------


def none_variants() -> list[str]:
    """All 16 letter-case spellings of "none"."""
    return ["".join(c) for c in itertools.product(*((ch.lower(), ch.upper()) for ch in "none"))]


def alg_none(claims: Mapping[str, object], case: str = "none", kid: str | None = None, signature: str = "") -> str:
    """Unsecured JWS: alg none (any spelling), empty signature unless one is given."""
    header: dict[str, object] = {"alg": case, "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    return f"{b64url(json_bytes(header))}.{b64url(json_bytes(dict(claims)))}.{signature}"


HmacVariant = Literal["pem", "pem_no_newline", "der", "jwk", "jwk_compact", "pkcs1_pem"]


def public_key_bytes(key: SigningKey, variant: HmacVariant) -> bytes:
    public = key.private_key.public_key()
    if variant in ("pem", "pem_no_newline"):
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem if variant == "pem" else pem.rstrip(b"\n")
    if variant == "der":
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if variant == "pkcs1_pem":
        assert isinstance(public, rsa.RSAPublicKey), "PKCS#1 is RSA only"
        return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    jwk = jwk_of(public, key.kid, key.alg)
    return json.dumps(jwk).encode() if variant == "jwk" else json_bytes(jwk)


def hs256(secret: bytes, header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    h, p = b64url(json_bytes(dict(header))), b64url(json_bytes(dict(claims)))
    mac = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(mac)}"


def hs256_with_public_key(key: SigningKey, claims: Mapping[str, object], variant: HmacVariant = "pem") -> str:
    """The classic confusion: HMAC keyed with the server's *public* key, in the form a lax library uses."""
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    return hs256(public_key_bytes(key, variant), header, claims)


def hs256_empty_key(key: SigningKey, claims: Mapping[str, object]) -> str:
    return hs256(b"", {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}, claims)


def swap_alg(token: str, alg: str) -> str:
    """Same payload and signature, header alg replaced (e.g. an RS256 token claiming ES256)."""
    h, p, s = token.split(".")
    header = json.loads(b64url_decode(h))
    header["alg"] = alg
    return f"{b64url(json_bytes(header))}.{p}.{s}"


# --- key-injection attacks ----------------------------------------------------------------------------------


@functools.cache
def attacker_key(alg: str = "ES256") -> AttackerKey:
    """The attacker's own key pair (one per algorithm and process: RSA generation is slow)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(public: object, kid: str, alg: str) -> dict[str, str]:
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")),
            "kid": kid,
            "alg": alg,
        }
    assert isinstance(public, ec.EllipticCurvePublicKey)
    e = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(e.x.to_bytes(32, "big")),
        "y": b64url(e.y.to_bytes(32, "big")),
        "kid": kid,
        "alg": alg,
    }


def embedded_jwk(claims: Mapping[str, object], alg: str = "ES256", kid: str | None = None) -> str:
    """Signed with the attacker's own fresh key, whose public JWK rides in the header (CVE-2018-0114 style).

    `kid`: the victim's kid (so a lookup finds a real key) or None for the attacker's own kid.
    """
    private = attacker_key(alg)
    own_kid = kid or b64url(secrets.token_bytes(16))
    header = {"alg": alg, "kid": own_kid, "typ": "at+jwt", "jwk": jwk_of(private.public_key(), own_kid, alg)}
    return sign_parts(private, header, dict(claims))


def attacker_with_header(
    claims: Mapping[str, object], extra_header: Mapping[str, object], alg: str = "RS256", kid: str | None = None
) -> str:
    """Signed by an attacker key; the header points elsewhere for the key (jku, x5u: a URL the caller gives)."""
    private = attacker_key(alg)
    header = {"alg": alg, "kid": kid or b64url(secrets.token_bytes(16)), "typ": "at+jwt", **extra_header}
    return sign_parts(private, header, dict(claims))


def self_signed_certificate(private: AttackerKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sessionward issuer")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(private, hashes.SHA256())
    )


def x5c_self_signed(
    claims: Mapping[str, object], alg: str = "ES256", kid: str | None = None, x5u: str | None = None
) -> str:
    """Attacker key + its self-signed certificate in x5c (and its thumbprint in x5t#S256), signed with it."""
    private = attacker_key(alg)
    der = self_signed_certificate(private).public_bytes(serialization.Encoding.DER)
    header: dict[str, object] = {
        "alg": alg,
        "kid": kid or b64url(secrets.token_bytes(16)),
        "typ": "at+jwt",
        "x5c": [base64.b64encode(der).decode()],
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
    }
    if x5u is not None:
        header["x5u"] = x5u
    return sign_parts(private, header, dict(claims))


def kid_injection(key: SigningKey, claims: Mapping[str, object], kid: object) -> str:
    """The legitimate key signs a header whose kid is an injection string (or not a string at all)."""
    return with_header(key, claims, {"kid": kid})


def kid_injections(real_kid: str) -> list[object]:
    """Kids that must never select a key: traversal, SQL/NoSQL/LDAP/command injection, near-misses, non-str."""
    return [
        "../../etc/passwd",
        "../../../../../../dev/null",
        "/dev/null",
        "' OR 1=1--",
        '" OR ""="',
        "'; DROP TABLE keys;--",
        "*",
        "%",
        "$(id)",
        "|id",
        "\u0000",
        real_kid + "\u0000",
        "\u0000" + real_kid,
        real_kid + " ",
        real_kid.upper() if real_kid.upper() != real_kid else real_kid.lower(),
        real_kid[:-1],
        real_kid + real_kid,
        "x" * 129,
        real_kid * 8,
        "",
        123,
        None,
        True,
        [real_kid],
        {"kid": real_kid},
        {"$ne": None},
    ]


def other_key_same_kid(key: SigningKey, claims: Mapping[str, object]) -> str:
    """A well-formed token under the real kid, signed by a different key of the same algorithm."""
    return sign_parts(attacker_key(key.alg), legit_header(key), dict(claims))


# --- signature-encoding attacks -----------------------------------------------------------------------------


def es256_raw_signature(key: SigningKey, claims: Mapping[str, object], r: int, s: int) -> str:
    """Legitimate header and payload with a chosen R||S (zero, n, above n...) as the signature."""
    h, p, _ = legit(key, claims).split(".")
    return f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def es256_der_signature(key: SigningKey, claims: Mapping[str, object]) -> str:
    """A genuine ES256 signature of the right message, but DER-encoded instead of raw R||S."""
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    h = b64url(json_bytes(legit_header(key)))
    p = b64url(json_bytes(dict(claims)))
    der = key.private_key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"{h}.{p}.{b64url(der)}"


def es256_signature_pair(token: str) -> tuple[int, int]:
    sig = b64url_decode(token.split(".")[2])
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def strip_signature(token: str) -> str:
    h, p, _ = token.split(".")
    return f"{h}.{p}."


def truncate_signature(token: str, drop: int = 1) -> str:
    h, p, s = token.split(".")
    return f"{h}.{p}.{b64url(b64url_decode(s)[:-drop])}"


def extend_signature(token: str, extra: bytes = b"\x00") -> str:
    h, p, s = token.split(".")
    return f"{h}.{p}.{b64url(b64url_decode(s) + extra)}"


def tamper_payload(token: str, **changes: object) -> str:
    """Payload edited (MISSING drops a claim), header and signature kept."""
    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    for name, value in changes.items():
        if value is MISSING:
            claims.pop(name, None)
        else:
            claims[name] = value
    return f"{h}.{b64url(json_bytes(claims))}.{s}"


# --- serialization attacks ----------------------------------------------------------------------------------


def five_segments(token: str) -> str:
    """JWE-shaped: two more segments appended."""
    return f"{token}.{b64url(b'iv')}.{b64url(b'tag')}"


def with_padding(token: str, segment: int = 2) -> str:
    """Standard "=" padding added to one segment ("==" where the segment needs none)."""
    parts = token.split(".")
    parts[segment] += "=" * (-len(parts[segment]) % 4) or "=="
    return ".".join(parts)


def with_whitespace(token: str, whitespace: str = "\n", segment: int = 1) -> str:
    """Whitespace inserted in the middle of one segment (lax base64 decoders skip it)."""
    parts = token.split(".")
    middle = len(parts[segment]) // 2
    parts[segment] = parts[segment][:middle] + whitespace + parts[segment][middle:]
    return ".".join(parts)


def standard_alphabet(token: str) -> str:
    """ "-" and "_" replaced by "+" and "/" (base64, not base64url)."""
    return token.translate(str.maketrans("-_", "+/"))


def noncanonical_b64(token: str, segment: int = 2) -> str:
    """Same decoded bytes, different string: the last character's unused low bits set.

    Raises ValueError when that segment's length leaves no unused bits (length a multiple of 4).
    """
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts = token.split(".")
    seg = parts[segment]
    unused = {2: 0b1111, 3: 0b11}.get(len(seg) % 4)
    if unused is None:
        raise ValueError("segment has no unused trailing bits")
    last = alphabet.index(seg[-1])
    parts[segment] = seg[:-1] + alphabet[last | unused]
    forged = ".".join(parts)
    assert b64url_decode(parts[segment]) == b64url_decode(seg)
    return forged


def oversized(key: SigningKey, claims: Mapping[str, object], size: int = 4097) -> str:
    """A validly signed token of at least `size` characters (padded with an extra claim)."""
    base = len(legit(key, {**claims, "x": ""}))
    filler = max(0, (size - base) * 3 // 4 + 4)
    token = legit(key, {**claims, "x": "A" * filler})
    assert len(token) >= size
    return token


# --- a listener to prove that nothing is fetched ------------------------------------------------------------


class Listener:
    """A TCP listener on 127.0.0.1:0 that counts connections: point jku/x5u at it, expect none."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()
