"""Signing and the strict verify hot path for access tokens (RFC 7515 compact JWS, RFC 8725, RFC 9068).

The verifier trusts nothing in the header beyond `kid` (an exact lookup in the KeyRing) and `typ`: the
algorithm comes from the key, the header `alg` must merely agree with it, and no header can point at keys.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Final

from sessionward.crypto import _sig
from sessionward.crypto._b64 import b64url_decode, b64url_encode, json_object
from sessionward.crypto._claims import BASE_CLAIMS, AccessClaims, VerifyRules, check_claims
from sessionward.crypto._errors import REASONS, TokenRejected
from sessionward.crypto.keys import MAX_KID_LENGTH, SigningKey, VerificationKey, VerificationRing

__all__ = [
    "ACCESS_TOKEN_CLAIMS",
    "REASONS",
    "AccessClaims",
    "TokenRejected",
    "TokenVerifier",
    "VerifyRules",
    "sign_jwt",
]

# Every claim an access token carries (RFC 9068 plus sid); `cnf` joins them when a token is key-bound.
ACCESS_TOKEN_CLAIMS: Final = BASE_CLAIMS

# Header members that name or carry key material: honouring any of them hands the key choice to the sender.
_FORBIDDEN_HEADERS: Final = frozenset(("jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"))
# Validated headers (signed by our keys) seen recently: all tokens of one key share one header segment.
_HEADER_CACHE_SIZE: Final = 64

# Verified-token cache entry: claims, the key ring it was checked against, the key, and the window
# low <= now < high (high already capped by the key's verify_until).
_Entry = tuple[AccessClaims, VerificationRing, VerificationKey, float, float]


def sign_jwt(key: SigningKey, claims: Mapping[str, object], typ: str = "at+jwt") -> str:
    """Compact JWS with header exactly {"alg", "kid", "typ"}. Refuses a retired key."""
    if key.state != "active":
        raise ValueError(f"signing key {key.kid} is {key.state}; only active keys sign")
    header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": typ}, separators=(",", ":"))
    payload = json.dumps(dict(claims), separators=(",", ":"), allow_nan=False)
    signing_input = f"{b64url_encode(header.encode())}.{b64url_encode(payload.encode())}"
    signature = _sig.sign(key, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _parse_header(segment: str, typ: str) -> tuple[str, str]:
    header = json_object(segment)
    alg = header.get("alg")
    kid = header.get("kid")
    if type(alg) is not str:
        raise TokenRejected("bad_header")
    # A kid that cannot be ours is "unknown" without ever reaching the lookup.
    if type(kid) is not str or len(kid) > MAX_KID_LENGTH:
        raise TokenRejected("unknown_kid")
    if header.get("typ") != typ:
        raise TokenRejected("bad_typ")
    if "crit" in header:
        raise TokenRejected("crit")
    if not _FORBIDDEN_HEADERS.isdisjoint(header):
        raise TokenRejected("forbidden_header")
    return alg, kid


class TokenVerifier:
    """Verifies access tokens; safe to call on every request and from several threads.

    `keys()` returns the current key snapshot, a KeyRing or a verification-only PublicKeyRing from a JWKS
    (rotation may swap it at any time). `cache_size` bounds the verified-token cache (FIFO); 0 disables it. A
    cache hit skips parsing and signature work but still checks the time window against `now` and that the
    signing key still verifies.
    """

    __slots__ = ("_cache", "_cache_size", "_extra_required", "_headers", "_keys", "_leeway", "_max", "_rules")

    def __init__(self, keys: Callable[[], VerificationRing], rules: VerifyRules, cache_size: int = 65536) -> None:
        if type(cache_size) is not int or cache_size < 0:
            raise ValueError("cache_size must be an int >= 0")
        self._keys = keys
        self._rules = rules
        self._leeway = rules.leeway
        self._max = rules.max_token_bytes
        self._extra_required = tuple(c for c in rules.required_claims if c not in BASE_CLAIMS)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Entry] | None = OrderedDict() if cache_size else None
        self._headers: dict[str, tuple[str, str]] = {}

    def verify(self, token: str, now: float) -> AccessClaims:
        """The claims of a valid token; TokenRejected (`reason` for the audit log) for anything else."""
        if type(token) is not str:
            raise TokenRejected("malformed")
        # Size first: nothing below runs on an oversized input, not even hashing it for the cache.
        if len(token) > self._max:
            raise TokenRejected("oversized")
        ring = self._keys()
        cache = self._cache
        if cache is not None:
            entry = cache.get(token)
            if entry is not None:
                if entry[1] is not ring:
                    # Rotation or reload swapped the snapshot: re-anchor if the same key still verifies.
                    entry = self._reanchor(entry, ring, now)
                    if entry is not None:
                        cache[token] = entry
                if entry is not None:
                    claims, _, _, low, high = entry
                    if low <= now < high and claims.iat <= now + self._leeway:
                        return claims
                # Expired, not yet valid, or key gone: forget it and let the full path name the reason.
                cache.pop(token, None)

        parts = token.split(".")
        if len(parts) != 3 or not token.isascii():
            raise TokenRejected("malformed")
        header_segment, payload_segment, signature_segment = parts
        known = self._headers.get(header_segment)
        alg, kid = known or _parse_header(header_segment, self._rules.typ)
        key = ring.for_verification(kid, now)
        if key is None:
            raise TokenRejected("unknown_kid")
        # The key decides the algorithm; a header that disagrees (none, HS256, the other family...) is refused
        # before any signature work.
        if alg != key.alg:
            raise TokenRejected("alg_mismatch")
        _sig.verify(
            key,
            b64url_decode(signature_segment),
            token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii"),
        )
        # Only now, with the signature good, is the payload parsed.
        try:
            claims, low, high = check_claims(json_object(payload_segment), self._rules, self._extra_required, now, kid)
        except RecursionError:  # absurdly nested extra claims
            raise TokenRejected("malformed") from None
        if known is None:
            headers = self._headers
            if len(headers) >= _HEADER_CACHE_SIZE:
                headers.clear()
            headers[header_segment] = (alg, kid)
        if cache is not None:
            cache[token] = (claims, ring, key, low, min(high, key._deadline))
            if len(cache) > self._cache_size:
                # try/except, not contextlib.suppress: this runs on every miss once the cache is full.
                try:  # noqa: SIM105
                    cache.popitem(last=False)
                except KeyError:  # emptied by another thread meanwhile
                    pass
        return claims

    def _reanchor(self, entry: _Entry, ring: VerificationRing, now: float) -> _Entry | None:
        claims, _, key, low, _ = entry
        current = ring.for_verification(claims.kid, now)
        # Same kid and same public key (a reload builds new objects for unchanged keys).
        if current is None or current.alg != key.alg or current._fingerprint != key._fingerprint:
            return None
        return (claims, ring, current, low, min(claims.exp + self._leeway, current._deadline))
