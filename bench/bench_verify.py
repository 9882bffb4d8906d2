"""Access-token verify throughput against raw `cryptography` verify of the same signature (DESIGN section 6).

Run: `python bench/bench_verify.py [--strict]` (or import `main`). Prints one table; best of 3 runs of ~1 s each.

- raw: `public_key.verify` of one token's signature with the same key object, building the padding/hash
  objects per call exactly as in notes/scripts/bench_jose.py (the baseline the targets are stated against).
- new token: a pool of distinct tokens cycled through a verifier whose FIFO cache is half the pool size, so
  every call misses (cache insert and eviction included); also a verifier with cache_size=0.
- floor: the notes' "hand-rolled" loop (split, base64, json.loads, verify, three claim compares, nothing
  else) on the same tokens: what any Python path pays before a single RFC 8725 check.
- repeated token: one token, copied into a fresh str object before every call (the copy is timed too), so
  each lookup hashes the string the way a freshly parsed Authorization header would; str caches its hash.
"""

from __future__ import annotations

import base64
import json
import platform
import secrets
import sys
import time
from collections.abc import Callable

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from sessionward.crypto import KeyRing, SigningKey, TokenVerifier, VerifyRules, generate_key, sign_jwt
from sessionward.crypto._b64 import b64url_decode

ISSUER = "https://sessionward.example"
AUDIENCE = "sessionward"
NOW = 1_800_000_000
POOL = 512
BATCH = 256
TARGET_NEW = {"RS256": 0.8, "ES256": 0.9}
TARGET_REPEATED = 20.0


def claims(now: int) -> dict[str, object]:
    # The shape services/tokens.py issues.
    return {
        "iss": ISSUER,
        "sub": secrets.token_urlsafe(16),
        "aud": AUDIENCE,
        "exp": now + 600,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(24),
        "sid": secrets.token_urlsafe(24),
        "client_id": "sessionward-web",
        "auth_time": now,
        "acr": "urn:sessionward:acr:pwd",
        "amr": ["pwd"],
    }


def ops_per_second(batch: Callable[[], None], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while True:
        batch()
        n += BATCH
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def raw_verify(key: SigningKey, token: str) -> Callable[[], None]:
    header, payload, signature = token.split(".")
    data = f"{header}.{payload}".encode()
    sig = b64url_decode(signature)
    pub = key.public_key
    items = [None] * BATCH
    if isinstance(pub, ec.EllipticCurvePublicKey):
        der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))

        def batch() -> None:
            for _ in items:
                pub.verify(der, data, ec.ECDSA(hashes.SHA256()))

    else:

        def batch() -> None:
            for _ in items:
                pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())

    return batch


def floor_batches(tokens: list[str], key: SigningKey) -> Callable[[], None]:
    pub = key.public_key
    chunks = [tokens[i : i + BATCH] for i in range(0, len(tokens), BATCH)]
    position = [0]

    def b64d(segment: str) -> bytes:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    def batch() -> None:
        chunk = chunks[position[0] % len(chunks)]
        position[0] += 1
        for token in chunk:
            h, p, s = token.split(".")
            sig = b64d(s)
            if isinstance(pub, ec.EllipticCurvePublicKey):
                der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                pub.verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
            else:
                pub.verify(sig, f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())
            header = json.loads(b64d(h))
            claims = json.loads(b64d(p))
            assert header["alg"] == key.alg
            assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE and claims["exp"] > NOW

    return batch


def verifier_batches(tokens: list[str], verifier: TokenVerifier) -> Callable[[], None]:
    now = float(NOW + 1)
    verify = verifier.verify
    chunks = [tokens[i : i + BATCH] for i in range(0, len(tokens), BATCH)]
    assert all(len(c) == BATCH for c in chunks)
    position = [0]

    def batch() -> None:
        chunk = chunks[position[0] % len(chunks)]
        position[0] += 1
        for token in chunk:
            verify(token, now)

    return batch


def repeated_batches(token: str, verifier: TokenVerifier) -> Callable[[], None]:
    now = float(NOW + 1)
    verify = verifier.verify
    head, last = token[:-1], token[-1]
    items = [None] * BATCH

    def batch() -> None:
        for _ in items:
            verify(head + last, now)  # a new, equal str: its hash is not cached yet

    return batch


def batches(key: SigningKey) -> dict[str, Callable[[], None]]:
    ring = KeyRing([key])
    rules = VerifyRules(issuer=ISSUER, audience=AUDIENCE, leeway=30.0)
    pool = [sign_jwt(key, claims(NOW)) for _ in range(POOL)]
    return {
        "raw": raw_verify(key, pool[0]),
        "floor": floor_batches(pool, key),
        "new": verifier_batches(pool, TokenVerifier(lambda: ring, rules, cache_size=POOL // 2)),
        "uncached": verifier_batches(pool, TokenVerifier(lambda: ring, rules, cache_size=0)),
        "hit": repeated_batches(pool[0], TokenVerifier(lambda: ring, rules)),
    }


def measure(keys: dict[str, SigningKey], seconds: float = 1.0, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Best of `repeats`; the runs are interleaved so that a burst of load elsewhere skews no single row."""
    work = {alg: batches(key) for alg, key in keys.items()}
    best = {alg: dict.fromkeys(rows, 0.0) for alg, rows in work.items()}
    for rows in work.values():
        for batch in rows.values():
            batch()  # warm up, and fail loudly before timing if something is wrong
    for _ in range(repeats):
        for alg, rows in work.items():
            for name, batch in rows.items():
                best[alg][name] = max(best[alg][name], ops_per_second(batch, seconds))
    return best


def main(strict: bool = False) -> int:
    """Prints the table; returns 1 for a missed target only when `strict` (timings here are noisy)."""
    print(
        f"python {platform.python_version()} | cryptography {cryptography.__version__} | "
        f"{platform.machine()} | best of 3 x 1 s"
    )
    keys = {"RS256": generate_key("RS256", NOW), "ES256": generate_key("ES256", NOW)}
    results = measure(keys)
    raw_rs256 = results["RS256"]["raw"]
    print(f"{'':30} {'RS256 ops/s':>14} {'ratio':>7}   {'ES256 ops/s':>14} {'ratio':>7}")

    def row(label: str, field: str, baseline: Callable[[str], float]) -> None:
        cells = [f"{results[a][field]:14,.0f} {results[a][field] / baseline(a):6.2f}x" for a in keys]
        print(f"{label:30} {cells[0]}   {cells[1]}")

    row("raw cryptography verify", "raw", lambda a: results[a]["raw"])
    row("floor: split+b64+json+verify", "floor", lambda a: results[a]["raw"])
    row("verify, new token (cache miss)", "new", lambda a: results[a]["raw"])
    row("verify, new token (no cache)", "uncached", lambda a: results[a]["raw"])
    row("verify, repeated (vs raw RS256)", "hit", lambda a: raw_rs256)
    sizes = ", ".join(f"{a} {len(sign_jwt(key, claims(NOW)))} bytes" for a, key in keys.items())
    print(f"token sizes: {sizes}; new-token pool {POOL} tokens through a {POOL // 2}-entry cache (all misses)")
    failed = [
        f"{a} new token {results[a]['new'] / results[a]['raw']:.2f}x < {TARGET_NEW[a]}x"
        for a in keys
        if results[a]["new"] / results[a]["raw"] < TARGET_NEW[a]
    ]
    failed += [
        f"{a} repeated {results[a]['hit'] / raw_rs256:.1f}x < {TARGET_REPEATED}x raw RS256"
        for a in keys
        if results[a]["hit"] / raw_rs256 < TARGET_REPEATED
    ]
    for line in failed:
        print(f"below target: {line}")
    return 1 if failed and strict else 0


if __name__ == "__main__":
    sys.exit(main(strict="--strict" in sys.argv[1:]))
