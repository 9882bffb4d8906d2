"""Every rule of the pure DPoP proof verifier (RFC 9449 section 4.3), each with a proof that breaks it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.crypto.dpop import (
    DPOP_ALGORITHMS,
    MAX_PROOF_BYTES,
    REASONS,
    DpopRejected,
    access_token_hash,
    jwk_thumbprint,
    normalise_htu,
    verify_proof,
)
from tests import forgery as f
from tests.dpop_client import MISSING, DpopKey, b64url

NOW = 1_800_000_000
URL = "https://sessionward.example/v1/me"
TOKEN = "header.payload.signature"
MAX_AGE = 60.0
LEEWAY = 5.0
ES = DpopKey("ES256")


def check(proof: str, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "method": "GET",
        "url": URL,
        "now": NOW,
        "access_token": TOKEN,
        "expected_jkt": None,
        "nonce": None,
        "max_age": MAX_AGE,
        "leeway": LEEWAY,
    }
    args.update(overrides)
    return verify_proof(proof, **args)


def rejected(proof: str | None, reason: str, **overrides: Any) -> None:
    assert reason in REASONS
    with pytest.raises(DpopRejected) as caught:
        check(proof, **overrides)  # type: ignore[arg-type]
    assert caught.value.reason == reason


def good(key: DpopKey = ES, **kw: Any) -> str:
    kw.setdefault("token", TOKEN)
    kw.setdefault("iat", NOW)
    return key.proof("GET", URL, **kw)


@pytest.mark.parametrize("alg", DPOP_ALGORITHMS)
def test_a_valid_proof_of_every_algorithm_gives_its_thumbprint(alg: str) -> None:
    key = DpopKey(alg)
    proof = check(good(key, jti="a" * 16))
    assert (proof.jkt, proof.jti, proof.iat) == (key.jkt, "a" * 16, NOW)
    assert check(good(key), expected_jkt=key.jkt).jkt == key.jkt


def test_rfc7638_thumbprint_example() -> None:
    # RFC 7638 section 3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
            "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
            "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
            "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ath_is_the_base64url_sha256_of_the_token() -> None:
    assert access_token_hash("abc") == b64url(
        bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    )


def test_a_missing_or_empty_proof_is_refused() -> None:
    rejected(None, "missing")
    rejected("", "missing")


@pytest.mark.parametrize(
    "proof",
    ["a.b", "a.b.c.d", "not a jwt", "é.é.é", "..", f"{good()}.x"],
)
def test_anything_but_the_compact_form_is_malformed(proof: str) -> None:
    rejected(proof, "malformed")


def test_an_oversized_proof_is_refused_before_parsing() -> None:
    rejected("a" * (MAX_PROOF_BYTES + 1), "oversized")


def _with_unused_bits(segment: int) -> str:
    """A valid proof whose `segment` has unused trailing bits (its length is 2 or 3 mod 4)."""
    for i in range(64):
        proof = good(jti="j" * (16 + i), header_extra={"pad": "p" * i})
        if len(proof.split(".")[segment]) % 4 in (2, 3):
            return proof
    raise AssertionError("no proof with unused bits")


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_non_canonical_padded_or_standard_base64_is_refused(segment: int) -> None:
    proof = _with_unused_bits(segment)
    check(proof)
    # The payload is parsed only after the signature verifies: a re-encoded payload breaks the signature first.
    reason = "bad_signature" if segment == 1 else "malformed"
    rejected(f.noncanonical_b64(proof, segment), reason)
    rejected(f.with_padding(proof, segment), reason)
    rejected(f.with_whitespace(proof, segment=segment), reason)


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "DPOP+JWT", "dpop+jwt ", MISSING, None, 1])
def test_typ_must_be_exactly_dpop_jwt(typ: Any) -> None:
    rejected(good(typ=typ), "bad_typ")


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "HS512", "ES384", "RS512", "", MISSING, 7])
def test_only_the_asymmetric_algorithms_are_accepted(alg: Any) -> None:
    rejected(good(alg=alg), "bad_alg")


def test_an_hmac_proof_keyed_with_the_public_jwk_is_refused() -> None:
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": ES.jwk}
    claims = {"jti": "j" * 20, "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)}
    rejected(f.hs256(json.dumps(ES.jwk).encode(), header, claims), "bad_alg")


def test_the_key_type_must_match_the_algorithm() -> None:
    rejected(good(DpopKey("ES256"), alg="RS256"), "bad_jwk")
    rejected(good(DpopKey("RS256"), alg="ES256"), "bad_jwk")
    rejected(good(DpopKey("EdDSA"), alg="ES256"), "bad_jwk")
    rejected(good(jwk={**ES.jwk, "alg": "ES384"}), "bad_jwk")


def test_ed25519_goes_by_both_names_for_one_key_and_one_thumbprint() -> None:
    """RFC 9864's fully specified "Ed25519" (current panva jose / oauth4webapi) and RFC 8037's "EdDSA"."""
    assert {"EdDSA", "Ed25519"} <= set(DPOP_ALGORITHMS)
    key = DpopKey("Ed25519")
    by_new_name, by_old_name = check(good(key)), check(good(key, alg="EdDSA"))
    assert by_new_name.jkt == by_old_name.jkt == key.jkt
    # A jwk naming its algorithm may use either name under either header name.
    for jwk_alg in ("EdDSA", "Ed25519"):
        for alg in ("EdDSA", "Ed25519"):
            assert check(good(key, alg=alg, jwk={**key.jwk, "alg": jwk_alg})).jkt == key.jkt
    rejected(good(key, jwk={**key.jwk, "alg": "ES256"}), "bad_jwk")


@pytest.mark.parametrize("alg", ["ed25519", "ED25519", "Ed448", "EdDSA448", "Ed25519ph"])
def test_no_other_spelling_or_edwards_curve_is_an_algorithm(alg: str) -> None:
    rejected(good(DpopKey("Ed25519"), alg=alg), "bad_alg")


def test_ed25519_needs_an_okp_key_on_ed25519() -> None:
    rejected(good(DpopKey("ES256"), alg="Ed25519"), "bad_jwk")
    rejected(good(DpopKey("RS256"), alg="Ed25519"), "bad_jwk")
    ed = DpopKey("Ed25519")
    for alg in ("Ed25519", "EdDSA"):
        rejected(good(ed, alg=alg, jwk={**ed.jwk, "crv": "Ed448"}), "bad_jwk")  # Ed448 is not supported
        rejected(good(ed, alg=alg, jwk={**ed.jwk, "crv": "X25519"}), "bad_jwk")  # a key-agreement key
        rejected(good(ed, alg=alg, jwk={**ed.jwk, "x": b64url(b"\x01" * 31)}), "bad_jwk")
    rejected(good(ed, alg="Ed25519", jwk=DpopKey("Ed25519").jwk), "bad_signature")


@pytest.mark.parametrize(
    "jwk",
    [
        MISSING,
        "a string",
        {"kty": "EC", "crv": "P-384", "x": b64url(b"\x01" * 32), "y": b64url(b"\x01" * 32)},
        {"kty": "EC", "crv": "P-256", "x": b64url(b"\x01" * 32), "y": b64url(b"\x01" * 32)},  # not on the curve
        {"kty": "EC", "crv": "P-256", "x": b64url(b"\x01" * 31)},
        {"kty": "oct", "k": "c2VjcmV0"},
    ],
)
def test_a_bad_or_absent_jwk_is_refused(jwk: Any) -> None:
    with pytest.raises(DpopRejected) as caught:
        check(good(jwk=jwk))
    assert caught.value.reason in ("bad_jwk", "private_jwk")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k"])
def test_a_private_jwk_is_refused(member: str) -> None:
    rejected(good(jwk={**ES.jwk, member: b64url(b"\x01" * 32)}), "private_jwk")


def test_a_small_or_even_rsa_key_is_refused() -> None:
    small = DpopKey("RS256", f.rsa.generate_private_key(public_exponent=65537, key_size=1024))
    rejected(good(small), "bad_jwk")
    rsa_jwk = DpopKey("RS256").jwk
    rejected(good(DpopKey("RS256"), jwk={**rsa_jwk, "n": "AA" + rsa_jwk["n"]}), "bad_jwk")  # leading zero octet


@pytest.mark.parametrize("name", ["jku", "x5u", "x5c", "kid", "crit"])
def test_headers_pointing_at_other_keys_are_refused(name: str) -> None:
    rejected(good(header_extra={name: "https://attacker.example/"}), "forbidden_header")


def test_the_signature_must_be_by_the_embedded_key() -> None:
    other = DpopKey("ES256")
    rejected(good(jwk=other.jwk), "bad_signature")
    proof = good()
    head, payload, sig = proof.split(".")
    rejected(f"{head}.{payload}.{b64url(bytes(64))}", "bad_signature")
    rejected(f"{head}.{payload}.{b64url(base64.urlsafe_b64decode(sig + '==')[:-3])}", "bad_signature")
    tampered = base64.urlsafe_b64decode(payload + "==").replace(b'"GET"', b'"PUT"')
    rejected(f"{head}.{b64url(tampered)}.{sig}", "bad_signature")
    r, s = f.es256_signature_pair(proof)
    rejected(
        f"{head}.{payload}.{b64url(r.to_bytes(32, 'big') + (s + f.P256_ORDER).to_bytes(33, 'big'))}", "bad_signature"
    )


@pytest.mark.parametrize("jti", [MISSING, "", "short", "x" * 15, 12345678901234567890, "x" * 257])
def test_jti_must_be_a_string_of_16_to_256_characters(jti: Any) -> None:
    rejected(good(jti=jti), "bad_jti")


@pytest.mark.parametrize("htm", ["POST", "get", "", MISSING, ["GET"]])
def test_htm_must_be_the_request_method(htm: Any) -> None:
    rejected(good(htm=htm), "bad_htm")


@pytest.mark.parametrize(
    "htu",
    [
        "https://sessionward.example/v1/sessions",
        "https://other.example/v1/me",
        "http://sessionward.example/v1/me",
        "https://sessionward.example:8443/v1/me",
        "https://sessionward.example/v1/me/",
        "https://sessionward.example/V1/me",
        "/v1/me",
        "ftp://sessionward.example/v1/me",
        "https://user@sessionward.example/v1/me",
        "https://sessionward.example:99999/v1/me",
        MISSING,
        42,
    ],
)
def test_htu_must_be_the_request_url(htu: Any) -> None:
    rejected(good(htu=htu), "bad_htu")


@pytest.mark.parametrize(
    "htu",
    [
        URL,
        "HTTPS://SessionWard.Example/v1/me",
        "https://sessionward.example:443/v1/me",
        "https://sessionward.example/v1/me?x=1",
        "https://sessionward.example/v1/me#frag",
    ],
)
def test_htu_ignores_query_fragment_case_of_scheme_and_host_and_default_port(htu: str) -> None:
    assert check(good(htu=htu)).jkt == ES.jkt


def test_normalise_htu_keeps_other_ports_and_ipv6() -> None:
    assert normalise_htu("https://[::1]:8443/x") == "https://[::1]:8443/x"
    assert normalise_htu("http://h:80") == "http://h/"


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_iat_must_lie_within_the_window(offset: int) -> None:
    proof = good(iat=NOW + offset)
    if -MAX_AGE <= offset <= LEEWAY:
        assert check(proof).iat == NOW + offset
    else:
        rejected(proof, "stale" if offset < 0 else "from_future")


@pytest.mark.parametrize("iat", [MISSING, "1800000000", 1.5, True, None])
def test_iat_must_be_an_integral_number(iat: Any) -> None:
    proof = good(iat=iat) if iat is not None else good(claims_extra={"iat": None})
    rejected(proof, "bad_iat")


def test_a_nan_now_accepts_nothing() -> None:
    with pytest.raises(DpopRejected):
        check(good(), now=float("nan"))


def test_ath_must_hash_the_presented_token() -> None:
    rejected(good(token="another.token.here"), "bad_ath")
    no_ath = ES.proof("GET", URL, iat=NOW)
    rejected(no_ath, "bad_ath")
    assert check(no_ath, access_token=None).jkt == ES.jkt  # at a token endpoint there is no token yet


def test_a_proof_by_another_key_than_the_bound_one_is_refused() -> None:
    rejected(good(), "wrong_key", expected_jkt=DpopKey("ES256").jkt)


def test_the_server_nonce_when_it_asks_for_one() -> None:
    rejected(good(), "use_dpop_nonce", nonce="n-1")
    rejected(good(nonce="n-2"), "use_dpop_nonce", nonce="n-1")
    rejected(good(claims_extra={"nonce": 1}), "use_dpop_nonce", nonce="n-1")
    assert check(good(nonce="n-1"), nonce="n-1").jkt == ES.jkt
    assert check(good(nonce="n-0"), nonce=frozenset({"n-0", "n-1"})).jkt == ES.jkt


def test_duplicate_members_are_malformed() -> None:
    proof = good()
    head = base64.urlsafe_b64decode(proof.split(".")[0] + "==")
    doubled = head[:-1] + b',"typ":"dpop+jwt"}'
    rejected(f"{b64url(doubled)}.{proof.split('.')[1]}.{proof.split('.')[2]}", "malformed")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_pass_and_never_raise_anything_else(data: bytes) -> None:
    text = data.decode("latin-1")
    for candidate in (text, b64url(data), f"{b64url(data)}.{b64url(data)}.{b64url(data)}"):
        with pytest.raises(DpopRejected):
            check(candidate)
