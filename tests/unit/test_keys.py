"""Signing keys: generation, storage round trip, validation on load, JWKs, the KeyRing over time."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from sessionward.crypto.keys import (
    KeyRing,
    SigningKey,
    generate_key,
    load_signing_key,
    private_key_pem,
    public_jwk,
    retire,
)

NOW = 1_800_000_000.0
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return generate_key("RS256", NOW)


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return generate_key("ES256", NOW)


@pytest.fixture(params=["ES256", "RS256"])
def key(request: pytest.FixtureRequest, rsa_key: SigningKey, ec_key: SigningKey) -> SigningKey:
    return rsa_key if request.param == "RS256" else ec_key


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def pem_of(private: object) -> bytes:
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def secret_fragments(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> list[str]:
    """Strings that would betray key material if they showed up in a message or repr."""
    pem = pem_of(private).decode()
    lines = [line for line in pem.splitlines() if len(line) >= 16 and not line.startswith("-----")]
    numbers = private.private_numbers()
    secrets = [numbers.private_value] if isinstance(numbers, ec.EllipticCurvePrivateNumbers) else [numbers.d]
    if isinstance(numbers, rsa.RSAPrivateNumbers):
        secrets += [numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp]
    return lines + [str(s) for s in secrets] + [f"{s:x}" for s in secrets]


# --- generation and storage -------------------------------------------------------------------------------


def test_generated_keys(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    for key in (rsa_key, ec_key):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", key.kid)
        assert key.state == "active"
        assert key.verify_until is None
        assert key.created_at == NOW
    assert isinstance(rsa_key.private_key, rsa.RSAPrivateKey)
    assert rsa_key.private_key.key_size == 2048
    assert rsa_key.private_key.public_key().public_numbers().e == 65537
    assert isinstance(ec_key.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(ec_key.private_key.curve, ec.SECP256R1)
    assert generate_key("ES256", NOW).kid != ec_key.kid


def test_generate_rejects_other_algorithms() -> None:
    with pytest.raises(ValueError, match="alg"):
        generate_key("HS256", NOW)  # type: ignore[arg-type]


def test_round_trip(key: SigningKey) -> None:
    pem = private_key_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    loaded = load_signing_key(key.kid, key.alg, pem, key.created_at, "retired", NOW + 60)
    assert (loaded.kid, loaded.alg, loaded.created_at) == (key.kid, key.alg, key.created_at)
    assert (loaded.state, loaded.verify_until) == ("retired", NOW + 60)
    assert loaded.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_jwk(loaded) == public_jwk(key)
    assert load_signing_key(key.kid, key.alg, pem, key.created_at, key.state, None) == key


def test_public_key_is_derived_once(key: SigningKey) -> None:
    assert key.public_key is key.public_key


@pytest.mark.parametrize(
    ("alg", "make", "message"),
    [
        ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "1024 bits"),  # noqa: S505
        ("RS256", lambda: rsa.generate_private_key(public_exponent=3, key_size=2048), "exponent"),
        ("ES256", lambda: ec.generate_private_key(ec.SECP384R1()), "P-256"),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256K1()), "P-256"),
        ("ES256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "P-256"),
        ("RS256", lambda: ec.generate_private_key(ec.SECP256R1()), "RSA"),
        ("ES256", lambda: ed25519.Ed25519PrivateKey.generate(), "RSA and EC"),
    ],
    ids=["rsa1024", "rsa-e3", "p384-as-es256", "secp256k1", "rsa-as-es256", "ec-as-rs256", "ed25519"],
)
def test_load_rejects_mismatched_or_weak_keys(alg: str, make: object, message: str) -> None:
    assert callable(make)
    private = make()
    pem = pem_of(private)
    with pytest.raises(ValueError, match=message) as caught:
        load_signing_key("kid-under-test", alg, pem, NOW, "active", None)
    if isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        for fragment in secret_fragments(private):
            assert fragment not in str(caught.value)
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("alg", ["HS256", "none", "rs256", "ES384", "", "PS256"])
def test_load_rejects_other_algorithms(ec_key: SigningKey, alg: str) -> None:
    with pytest.raises(ValueError, match="alg must be"):
        load_signing_key(ec_key.kid, alg, private_key_pem(ec_key), NOW, "active", None)


@pytest.mark.parametrize(
    "kid", ["", "../../etc/passwd", "a b", "kid\n", "kid\u0000", "é", "x" * 129, "' OR 1=1--", "a/b", "a.b"]
)
def test_load_rejects_bad_kids(ec_key: SigningKey, kid: str) -> None:
    with pytest.raises(ValueError, match="kid must be") as caught:
        load_signing_key(kid, "ES256", private_key_pem(ec_key), NOW, "active", None)
    assert kid not in str(caught.value) or kid == ""


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a key",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----",
    ],
)
def test_load_rejects_garbage(pem: bytes) -> None:
    with pytest.raises(ValueError, match="not an unencrypted PEM private key") as caught:
        load_signing_key("kid", "ES256", pem, NOW, "active", None)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_load_rejects_encrypted_pem_without_echoing_it(rsa_key: SigningKey) -> None:
    pem = rsa_key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    with pytest.raises(ValueError, match="unencrypted") as caught:
        load_signing_key(rsa_key.kid, "RS256", pem, NOW, "active", None)
    for line in pem.decode().splitlines()[1:-1]:
        assert line not in str(caught.value)


@pytest.mark.parametrize(
    ("state", "created_at", "verify_until", "message"),
    [
        ("revoked", NOW, None, "state"),
        ("ACTIVE", NOW, None, "state"),
        ("active", float("nan"), None, "created_at"),
        ("active", "yesterday", None, "created_at"),
        ("retired", NOW, float("inf"), "verify_until"),
        ("retired", NOW, True, "verify_until"),
    ],
)
def test_load_validates_metadata(
    ec_key: SigningKey, state: str, created_at: object, verify_until: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_signing_key(
            ec_key.kid,
            "ES256",
            private_key_pem(ec_key),
            created_at,  # type: ignore[arg-type]
            state,
            verify_until,  # type: ignore[arg-type]
        )


def test_direct_construction_is_validated_too(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="RSA"):
        SigningKey("kid", "RS256", ec_key.private_key, NOW)
    with pytest.raises(ValueError, match="P-256"):
        SigningKey("kid", "ES256", rsa_key.private_key, NOW)
    with pytest.raises(ValueError, match="alg must be"):
        SigningKey("kid", "HS256", rsa_key.private_key, NOW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kid"):
        SigningKey("../kid", "RS256", rsa_key.private_key, NOW)
    with pytest.raises(ValueError, match="RSA"):
        dataclasses.replace(rsa_key, private_key=ec_key.private_key)


def test_repr_has_no_key_material(key: SigningKey) -> None:
    text = repr(key) + str(key)
    assert key.kid in text
    assert "private" not in text.lower()
    assert "fingerprint" not in text
    for fragment in secret_fragments(key.private_key):
        assert fragment not in text
    ring_text = repr(KeyRing([key]))
    assert key.kid in ring_text
    for fragment in secret_fragments(key.private_key):
        assert fragment not in ring_text


# --- public JWK ---------------------------------------------------------------------------------------------


def test_rsa_jwk_is_public_and_verifies(rsa_key: SigningKey) -> None:
    jwk = public_jwk(rsa_key)
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert not PRIVATE_JWK_MEMBERS & set(jwk)
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["kid"], jwk["e"]) == ("RSA", "RS256", "sig", rsa_key.kid, "AQAB")
    n = int.from_bytes(b64d(jwk["n"]), "big")
    assert b64d(jwk["n"])[0] != 0  # minimal encoding (RFC 7518 section 6.3.1.1)
    public = rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"), n).public_key()
    assert isinstance(rsa_key.private_key, rsa.RSAPrivateKey)
    signature = rsa_key.private_key.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())


def test_ec_jwk_is_public_and_verifies(ec_key: SigningKey) -> None:
    jwk = public_jwk(ec_key)
    assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert not PRIVATE_JWK_MEMBERS & set(jwk)
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert len(b64d(jwk["x"])) == len(b64d(jwk["y"])) == 32  # fixed width (RFC 7518 section 6.2.1.2)
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    assert isinstance(ec_key.private_key, ec.EllipticCurvePrivateKey)
    signature = ec_key.private_key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"message", ec.ECDSA(hashes.SHA256()))


def test_jwk_values_are_strings_without_padding(key: SigningKey) -> None:
    for value in public_jwk(key).values():
        assert isinstance(value, str)
        assert "=" not in value


# --- the ring -----------------------------------------------------------------------------------------------


def test_active_picks_the_newest_active_key(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    older = generate_key("ES256", NOW - 100)
    newer = generate_key("ES256", NOW + 100)
    newest_retired = retire(generate_key("ES256", NOW + 200), NOW + 200, 600)
    ring = KeyRing([older, newest_retired, newer, ec_key, rsa_key])
    assert ring.active("ES256") is newer
    assert ring.active("RS256") is rsa_key
    assert ring.keys == (older, newest_retired, newer, ec_key, rsa_key)
    with pytest.raises(KeyError):
        KeyRing([older]).active("RS256")
    with pytest.raises(KeyError):
        KeyRing([newest_retired]).active("ES256")


def test_active_tie_is_broken_the_same_way_everywhere() -> None:
    a, b = generate_key("ES256", NOW), generate_key("ES256", NOW)
    assert KeyRing([a, b]).active("ES256") is KeyRing([b, a]).active("ES256")


def test_ring_rejects_duplicate_kids(ec_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="duplicate kid"):
        KeyRing([ec_key, retire(ec_key, NOW, 60)])
    with pytest.raises(TypeError):
        KeyRing([object()])  # type: ignore[list-item]


def test_ring_is_immutable(ec_key: SigningKey) -> None:
    ring = KeyRing([ec_key])
    with pytest.raises(AttributeError):
        ring._by_kid = {}  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del ring._keys  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ec_key.state = "retired"  # type: ignore[misc]


def test_retired_key_verifies_until_verify_until_then_leaves_jwks(ec_key: SigningKey) -> None:
    retired = retire(ec_key, NOW, 600)
    assert (retired.state, retired.verify_until, retired.kid) == ("retired", NOW + 600, ec_key.kid)
    ring = KeyRing([retired])
    assert retired.verifies_at(NOW + 599.999)
    assert ring.for_verification(ec_key.kid, NOW + 599.999) is retired
    assert ring.jwks(NOW + 599.999) == {"keys": [public_jwk(ec_key)]}
    assert not retired.verifies_at(NOW + 600)
    assert ring.for_verification(ec_key.kid, NOW + 600) is None
    assert ring.jwks(NOW + 600) == {"keys": []}
    with pytest.raises(KeyError):
        ring.active("ES256")


def test_retire_never_extends(ec_key: SigningKey) -> None:
    once = retire(ec_key, NOW, 600)
    assert retire(once, NOW + 10, 6000).verify_until == NOW + 600
    assert retire(once, NOW, 60).verify_until == NOW + 60
    with pytest.raises(ValueError, match="max_token_lifetime"):
        retire(ec_key, NOW, -1)
    with pytest.raises(ValueError, match="max_token_lifetime"):
        retire(ec_key, NOW, float("nan"))


def test_retired_without_verify_until_verifies_nothing(ec_key: SigningKey) -> None:
    key = dataclasses.replace(ec_key, state="retired")
    assert not key.verifies_at(NOW)
    assert KeyRing([key]).for_verification(key.kid, NOW) is None


def test_active_key_verifies_at_any_finite_time_but_not_nan(ec_key: SigningKey) -> None:
    assert ec_key.verifies_at(0.0)
    assert ec_key.verifies_at(1e18)
    assert not ec_key.verifies_at(float("nan"))


@pytest.mark.parametrize("kid", [None, 1, ["x"], {"k": 1}, b"kid", "", "x" * 129])
def test_lookup_of_non_matching_kids(ec_key: SigningKey, kid: object) -> None:
    ring = KeyRing([ec_key])
    assert ring.for_verification(kid, NOW) is None
    assert ring.for_verification(ec_key.kid, NOW) is ec_key
    assert ring.for_verification(ec_key.kid.encode(), NOW) is None


def test_jwks_lists_every_key_that_verifies(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    gone = retire(generate_key("ES256", NOW - 1000), NOW - 1000, 10)
    ring = KeyRing([rsa_key, ec_key, gone])
    jwks = ring.jwks(NOW)
    assert [k["kid"] for k in jwks["keys"]] == [rsa_key.kid, ec_key.kid]
    for jwk in jwks["keys"]:
        assert not PRIVATE_JWK_MEMBERS & set(jwk)
