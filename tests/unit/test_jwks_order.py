"""The served JWKS lists the keys tokens are signed with first (python-jose tries keys in order)."""

from __future__ import annotations

import pytest

from sessionward.crypto.keys import Algorithm, KeyRing, generate_key, public_jwk, retire
from sessionward.services.keyring import ordered_jwks

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    old_es, old_rs = generate_key("ES256", NOW - 200), generate_key("RS256", NOW - 200)
    es, rs = generate_key("ES256", NOW - 100), generate_key("RS256", NOW - 100)
    gone = retire(generate_key("RS256", NOW - 300), NOW - 250, 10)  # verified until NOW - 240: not served
    # Stored order puts the EC keys first, as the database returned them when python-jose failed.
    return KeyRing([retire(old_es, NOW - 100, 600), es, gone, retire(old_rs, NOW - 100, 600), rs])


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_the_signing_algorithm_comes_first_active_before_retired(ring: KeyRing, algorithm: Algorithm) -> None:
    keys = ordered_jwks(ring, NOW, algorithm)["keys"]
    assert [k["alg"] for k in keys] == [algorithm, algorithm, *[k["alg"] for k in keys[2:]]]
    assert {k["alg"] for k in keys[2:]} == ({"ES256", "RS256"} - {algorithm})
    first = ring.active(algorithm)
    assert keys[0] == public_jwk(first)
    assert len(keys) == 4  # the key past its verification deadline is not published


def test_the_same_keys_as_the_unordered_jwks(ring: KeyRing) -> None:
    served = ordered_jwks(ring, NOW, "RS256")["keys"]
    assert sorted(served, key=lambda k: k["kid"]) == sorted(ring.jwks(NOW)["keys"], key=lambda k: k["kid"])
