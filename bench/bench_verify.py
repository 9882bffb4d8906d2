"""Access-token verify throughput against raw `cryptography` verify of the same signature (DESIGN section 6).

Run: `python bench/bench_verify.py` (or import `main`). Prints one table; best of 3 runs of ~1 s each.

- raw: `public_key.verify` of one token's signature with the same key object, building the padding/hash
  objects per call exactly as in notes/scripts/bench_jose.py (the baseline the targets are stated against).
- new token: a pool of distinct tokens cycled through a verifier whose FIFO cache is half the pool size, so
  every call misses (cache insert and eviction included); also a verifier with cache_size=0.
- repeated token: one token, copied into a fresh str object before every call (the copy is timed too), so
  each lookup hashes the string the way a freshly parsed Authorization header would; str caches its hash.
"""

from __future__ import annotations

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


def ops_per_second(batch: Callable[[], None], seconds: float = 1.0, repeats: int = 3) -> float:
    batch()  # warm up, and fail loudly before timing if something is wrong
    best = 0.0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            batch()
            n += BATCH
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, n / elapsed)
    return best


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


def measure(alg: str, key: SigningKey) -> dict[str, float]:
    ring = KeyRing([key])
    rules = VerifyRules(issuer=ISSUER, audience=AUDIENCE, leeway=30.0)
    pool = [sign_jwt(key, claims(NOW)) for _ in range(POOL)]
    raw = ops_per_second(raw_verify(key, pool[0]))
    new = ops_per_second(verifier_batches(pool, TokenVerifier(lambda: ring, rules, cache_size=POOL // 2)))
    uncached = ops_per_second(verifier_batches(pool, TokenVerifier(lambda: ring, rules, cache_size=0)))
    hit = ops_per_second(repeated_batches(pool[0], TokenVerifier(lambda: ring, rules)))
    return {"raw": raw, "new": new, "uncached": uncached, "hit": hit, "bytes": float(len(pool[0]))}


def main() -> int:
    print(
        f"python {platform.python_version()} | cryptography {cryptography.__version__} | "
        f"{platform.machine()} | best of 3 x 1 s"
    )
    keys = {"RS256": generate_key("RS256", NOW), "ES256": generate_key("ES256", NOW)}
    results = {alg: measure(alg, key) for alg, key in keys.items()}
    raw_rs256 = results["RS256"]["raw"]
    print(f"{'':30} {'RS256 ops/s':>14} {'ratio':>7}   {'ES256 ops/s':>14} {'ratio':>7}")

    def row(label: str, field: str, baseline: Callable[[str], float]) -> None:
        cells = [f"{results[a][field]:14,.0f} {results[a][field] / baseline(a):6.2f}x" for a in keys]
        print(f"{label:30} {cells[0]}   {cells[1]}")

    row("raw cryptography verify", "raw", lambda a: results[a]["raw"])
    row("verify, new token (cache miss)", "new", lambda a: results[a]["raw"])
    row("verify, new token (no cache)", "uncached", lambda a: results[a]["raw"])
    row("verify, repeated (vs raw RS256)", "hit", lambda a: raw_rs256)
    sizes = ", ".join(f"{a} {int(results[a]['bytes'])} bytes" for a in keys)
    print(f"token sizes: {sizes}")
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
