"""Every verification rule (RFC 8725, RFC 9068), each with a test that tries to break it."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import math
import socket
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionward.crypto import _sig
from sessionward.crypto import jwt as jwt_module
from sessionward.crypto._b64 import b64url_decode, b64url_encode
from sessionward.crypto._claims import BASE_CLAIMS
from sessionward.crypto.jwt import REASONS, AccessClaims, TokenRejected, TokenVerifier, VerifyRules, sign_jwt
from sessionward.crypto.keys import KeyRing, SigningKey, generate_key, load_signing_key, private_key_pem, retire
from sessionward.errors import InvalidToken
from tests import forgery as f
from tests.forgery import Listener

ISSUER = "https://sessionward.example"
AUDIENCE = "sessionward"
NOW = 1_800_000_000.0
LEEWAY = 30.0
RULES = VerifyRules(issuer=ISSUER, audience=AUDIENCE, leeway=LEEWAY)


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return generate_key("RS256", NOW - 3600)


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return generate_key("ES256", NOW - 3600)


@pytest.fixture(scope="module")
def ring(rsa_key: SigningKey, ec_key: SigningKey) -> KeyRing:
    return KeyRing([rsa_key, ec_key])


@pytest.fixture(params=["ES256", "RS256"])
def key(request: pytest.FixtureRequest, rsa_key: SigningKey, ec_key: SigningKey) -> SigningKey:
    return rsa_key if request.param == "RS256" else ec_key


# Every attack is fired at a verifier without a cache and at one with it.
@pytest.fixture(params=[0, 1024], ids=["nocache", "cache"])
def verifier(request: pytest.FixtureRequest, ring: KeyRing) -> TokenVerifier:
    return TokenVerifier(lambda: ring, RULES, cache_size=request.param)


def claims(**overrides: object) -> dict[str, object]:
    return f.legit_claims(ISSUER, AUDIENCE, NOW, **overrides)


def rejected(verifier: TokenVerifier, token: Any, reason: str | set[str] | None = None, now: float = NOW) -> str:
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(token, now)
    error = caught.value
    assert error.reason in REASONS
    if reason is not None:
        assert error.reason in ({reason} if isinstance(reason, str) else reason)
    # One opaque message whatever the reason, and never the token itself.
    assert str(error) == str(TokenRejected("expired"))
    if isinstance(token, str) and token:
        assert token not in str(error)
        assert token not in repr(error)
    return error.reason


# --- the control case ---------------------------------------------------------------------------------------


def test_valid_token_verifies(verifier: TokenVerifier, key: SigningKey) -> None:
    c = claims(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    result = verifier.verify(sign_jwt(key, c), NOW)
    assert result == AccessClaims(
        iss=ISSUER,
        sub=str(c["sub"]),
        aud=AUDIENCE,
        exp=int(NOW) + 300,
        iat=int(NOW),
        nbf=int(NOW),
        jti=str(c["jti"]),
        sid=str(c["sid"]),
        client_id="forgery-client",
        auth_time=int(NOW),
        acr="urn:sessionward:acr:pwd",
        amr=("pwd",),
        cnf_jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        kid=key.kid,
        raw={},
    )
    assert result.claims_dict() == c
    assert isinstance(result.raw, MappingProxyType)
    with pytest.raises(TypeError):
        result.raw["sub"] = "someone-else"  # type: ignore[index]
    assert result.raw["amr"] == ("pwd",)
    with pytest.raises(TypeError):
        result.raw["cnf"]["jkt"] = "x"  # type: ignore[index]
    assert result.sid not in repr(result)
    assert result.jti not in repr(result)


def test_hand_built_token_verifies(verifier: TokenVerifier, key: SigningKey) -> None:
    # The forgery module's own signer agrees with ours, so its attacks differ from a valid token only by intent.
    assert verifier.verify(f.legit(key, claims()), NOW).kid == key.kid


def test_signed_header_is_exactly_alg_kid_typ(key: SigningKey) -> None:
    token = sign_jwt(key, claims(), typ="at+jwt")
    h, p, s = token.split(".")
    assert (
        b64url_decode(h)
        == json.dumps({"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, separators=(",", ":")).encode()
    )
    assert b" " not in b64url_decode(p)
    assert len(b64url_decode(s)) == (64 if key.alg == "ES256" else 256)
    assert "=" not in token


def test_retired_key_does_not_sign(rsa_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="only active keys sign"):
        sign_jwt(retire(rsa_key, NOW, 600), claims())


def test_unknown_header_members_are_ignored(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.with_header(key, claims(), {"x-trace": "1", "cty": "whatever", "b64": True})
    assert verifier.verify(token, NOW).kid == key.kid


def test_audience_list_containing_ours(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.legit(key, claims(aud=["other", AUDIENCE]))
    result = verifier.verify(token, NOW)
    assert result.aud == AUDIENCE
    assert result.raw["aud"] == ("other", AUDIENCE)


def test_integral_float_dates_accepted(verifier: TokenVerifier, key: SigningKey) -> None:
    result = verifier.verify(f.legit(key, claims(exp=NOW + 300.0, iat=NOW)), NOW)
    assert result.exp == int(NOW) + 300
    assert type(result.exp) is int


def test_extra_claims_are_kept_read_only(verifier: TokenVerifier, key: SigningKey) -> None:
    result = verifier.verify(f.legit(key, claims(scope="a b", ext={"roles": ["x"]})), NOW)
    assert result.raw["ext"]["roles"] == ("x",)  # type: ignore[index]
    assert result.claims_dict()["ext"] == {"roles": ["x"]}


def test_extra_required_claims(ring: KeyRing, key: SigningKey) -> None:
    rules = VerifyRules(ISSUER, AUDIENCE, LEEWAY, required_claims=(*BASE_CLAIMS, "scope"))
    v = TokenVerifier(lambda: ring, rules, cache_size=0)
    rejected(v, f.legit(key, claims()), "missing_claim")
    assert v.verify(f.legit(key, claims(scope="read")), NOW).raw["scope"] == "read"


def test_rules_refuse_dropping_base_claims() -> None:
    with pytest.raises(ValueError, match="required_claims"):
        VerifyRules(ISSUER, AUDIENCE, LEEWAY, required_claims=("iss", "exp"))
    with pytest.raises(ValueError, match="leeway"):
        VerifyRules(ISSUER, AUDIENCE, -1.0)
    with pytest.raises(ValueError, match="leeway"):
        VerifyRules(ISSUER, AUDIENCE, math.nan)


def test_rejection_is_one_exception_type() -> None:
    error = TokenRejected("bad_signature")
    assert isinstance(error, InvalidToken)
    assert error.reason == "bad_signature"


# --- algorithm confusion ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", f.none_variants())
def test_alg_none_in_every_case(verifier: TokenVerifier, key: SigningKey, case: str) -> None:
    assert len(f.none_variants()) == 16
    rejected(verifier, f.alg_none(claims(), case))  # no kid, empty signature
    rejected(verifier, f.alg_none(claims(), case, kid=key.kid))
    # Even with a real kid and a non-empty "signature", the key's algorithm decides: refused before crypto.
    rejected(verifier, f.alg_none(claims(), case, kid=key.kid, signature="c2ln"), "alg_mismatch")


@pytest.mark.parametrize("variant", ["pem", "pem_no_newline", "der", "jwk", "jwk_compact"])
def test_hs256_keyed_with_public_key(verifier: TokenVerifier, key: SigningKey, variant: f.HmacVariant) -> None:
    rejected(verifier, f.hs256_with_public_key(key, claims(), variant), "alg_mismatch")


def test_hs256_keyed_with_pkcs1_pem(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    rejected(verifier, f.hs256_with_public_key(rsa_key, claims(), "pkcs1_pem"), "alg_mismatch")


def test_hs256_with_empty_key(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.hs256_empty_key(key, claims()), "alg_mismatch")


@pytest.mark.parametrize("alg", ["HS256", "HS512", "ES384", "ES512", "RS384", "RS512", "PS256", "EdDSA", "rs256"])
def test_other_algorithms_refused_before_signature_work(
    verifier: TokenVerifier, key: SigningKey, alg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_crypto(*args: object) -> None:
        raise AssertionError("signature work started")

    monkeypatch.setattr(_sig, "verify", no_crypto)
    rejected(verifier, f.with_header(key, claims(), {"alg": alg}), "alg_mismatch")


def test_alg_swapped_between_families(verifier: TokenVerifier, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    rejected(verifier, f.swap_alg(f.legit(rsa_key, claims()), "ES256"), "alg_mismatch")
    rejected(verifier, f.swap_alg(f.legit(ec_key, claims()), "RS256"), "alg_mismatch")


@pytest.mark.parametrize("alg", [None, 256, ["RS256"], {"alg": "RS256"}])
def test_alg_must_be_a_string(verifier: TokenVerifier, key: SigningKey, alg: object) -> None:
    rejected(verifier, f.with_header(key, claims(), {"alg": alg}), "bad_header")
    rejected(verifier, f.without_header(key, claims(), "alg"), "bad_header")


# --- key injection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
@pytest.mark.parametrize("victim_kid", [False, True])
def test_embedded_jwk_signed_by_attacker(verifier: TokenVerifier, key: SigningKey, alg: str, victim_kid: bool) -> None:
    token = f.embedded_jwk(claims(), alg=alg, kid=key.kid if victim_kid else None)
    rejected(verifier, token, "forbidden_header")


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"])
def test_key_pointing_members_refused_even_when_validly_signed(
    verifier: TokenVerifier, key: SigningKey, member: str
) -> None:
    rejected(verifier, f.with_header(key, claims(), {member: "https://attacker.example/k"}), "forbidden_header")


@pytest.mark.parametrize("crit", [["exp"], [], ["b64"], "exp", None])
def test_crit_refused(verifier: TokenVerifier, key: SigningKey, crit: object) -> None:
    rejected(verifier, f.with_header(key, claims(), {"crit": crit, "exp": 1}), "crit")


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def test_jku_x5u_x5c_never_fetched(
    verifier: TokenVerifier, rsa_key: SigningKey, ec_key: SigningKey, listener: Listener
) -> None:
    url = f"http://127.0.0.1:{listener.port}/jwks.json"
    tls_url = f"https://127.0.0.1:{listener.port}/cert.pem"
    tokens = []
    for key in (rsa_key, ec_key):
        for alg in ("RS256", "ES256"):
            tokens += [
                f.attacker_with_header(claims(), {"jku": url}, alg=alg),
                f.attacker_with_header(claims(), {"jku": url}, alg=alg, kid=key.kid),
                f.attacker_with_header(claims(), {"x5u": tls_url}, alg=alg, kid=key.kid),
                f.x5c_self_signed(claims(), alg=alg),
                f.x5c_self_signed(claims(), alg=alg, kid=key.kid, x5u=tls_url),
            ]
        tokens += [
            f.with_header(key, claims(), {"jku": url}),
            f.with_header(key, claims(), {"x5u": tls_url}),
            f.with_header(key, claims(), {"kid": url}),
        ]
    for token in tokens:
        rejected(verifier, token)
    # Give a (wrongly) started background fetch time to arrive before concluding there was none.
    listener.stop.wait(0.2)
    assert listener.connections == 0
    with socket.create_connection(("127.0.0.1", listener.port), timeout=1):
        pass  # the listener itself works: a real connection is counted
    listener.stop.wait(0.2)
    assert listener.connections == 1


def test_kid_injection(verifier: TokenVerifier, key: SigningKey) -> None:
    for kid in f.kid_injections(key.kid):
        rejected(verifier, f.kid_injection(key, claims(), kid), "unknown_kid")


def test_kid_of_the_other_key(verifier: TokenVerifier, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    # An ES256 token naming the RSA key's kid: the key's algorithm decides.
    rejected(verifier, f.kid_injection(ec_key, claims(), rsa_key.kid), "alg_mismatch")


def test_other_key_under_the_real_kid(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.other_key_same_kid(key, claims()), "bad_signature")


# --- signatures ---------------------------------------------------------------------------------------------

N = f.P256_ORDER


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 0), (0, 1), (1, 0), (N, 1), (1, N), (N, N), (N + 1, 1), (1, N + 1), (2**256 - 1, 2**256 - 1)],
    ids=["zeros", "r=0", "s=0", "r=n", "s=n", "both=n", "r>n", "s>n", "max"],
)
def test_es256_signature_out_of_range(verifier: TokenVerifier, ec_key: SigningKey, r: int, s: int) -> None:
    rejected(verifier, f.es256_raw_signature(ec_key, claims(), r, s), "bad_signature")


def test_es256_range_is_checked_before_the_library(
    ec_key: SigningKey, ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenSSL refuses these too; this proves our own check does, whatever the library version.
    def no_der(r: int, s: int) -> bytes:
        raise AssertionError("reached DER encoding")

    monkeypatch.setattr(_sig, "encode_dss_signature", no_der)
    v = TokenVerifier(lambda: ring, RULES, cache_size=0)
    for r, s in [(0, 1), (1, 0), (N, 1), (1, N), (N + 1, 1), (2**256 - 1, 1)]:
        rejected(v, f.es256_raw_signature(ec_key, claims(), r, s), "bad_signature")


class SpyPublicKey:
    def __init__(self) -> None:
        self.calls = 0

    def verify(self, *args: object) -> None:
        self.calls += 1


def test_rsa_signature_length_is_checked_before_the_library(rsa_key: SigningKey) -> None:
    spy = SpyPublicKey()
    fake = dataclasses.replace(rsa_key)
    object.__setattr__(fake, "_rsa_public", spy)
    for length in (0, 1, 255, 257, 512):
        with pytest.raises(TokenRejected):
            _sig.verify(fake, b"\x01" * length, b"data")
    assert spy.calls == 0
    _sig.verify(fake, b"\x01" * 256, b"data")
    assert spy.calls == 1


def test_es256_signature_shifted_by_order(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    # r + n and s + n are the same values mod n: a verifier reducing mod n would accept them.
    c = claims()
    r, s = f.es256_signature_pair(f.legit(ec_key, c))
    for r2, s2 in ((r + N, s), (r, s + N)):
        if max(r2, s2) < 2**256:
            rejected(verifier, f.es256_raw_signature(ec_key, c, r2, s2), "bad_signature")
    assert verifier.verify(f.es256_raw_signature(ec_key, c, r, s), NOW)
    # (r, n - s) is the other valid ECDSA signature of the same message (RFC 7518 does not ask for low-s);
    # it is another token string for the same claims, which nothing here keys on except the cache.
    assert verifier.verify(f.es256_raw_signature(ec_key, c, r, N - s), NOW).jti == c["jti"]


def test_es256_der_signature(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    rejected(verifier, f.es256_der_signature(ec_key, claims()), "bad_signature")


def test_stripped_signature(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.strip_signature(f.legit(key, claims())), "malformed")


@pytest.mark.parametrize("drop", [1, 2, 32])
def test_truncated_signature(verifier: TokenVerifier, key: SigningKey, drop: int) -> None:
    rejected(verifier, f.truncate_signature(f.legit(key, claims()), drop), "bad_signature")


def test_extended_signature(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.extend_signature(f.legit(key, claims())), "bad_signature")
    rejected(verifier, f.extend_signature(f.legit(key, claims()), b"\x00" * 64), "bad_signature")


@pytest.mark.parametrize(
    "changes",
    [{"sub": "admin"}, {"exp": int(NOW) + 10**6}, {"acr": "urn:sessionward:acr:mfa"}, {"extra": 1}],
)
def test_tampered_payload(verifier: TokenVerifier, key: SigningKey, changes: dict[str, object]) -> None:
    rejected(verifier, f.tamper_payload(f.legit(key, claims()), **changes), "bad_signature")


def test_the_real_signature_does_not_hit_with_another_payload(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.legit(key, claims())
    verifier.verify(token, NOW)  # cached now
    rejected(verifier, f.tamper_payload(token, sub="admin"), "bad_signature")


# --- typ ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "AT+JWT", "At+Jwt", "application/at+jwt", "at+jwt ", "jwt", "", 1])
def test_wrong_typ(verifier: TokenVerifier, key: SigningKey, typ: object) -> None:
    rejected(verifier, f.with_header(key, claims(), {"typ": typ}), "bad_typ")


def test_missing_typ(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.legit(key, claims(), typ=None), "bad_typ")


# --- serialization ------------------------------------------------------------------------------------------


def test_five_segments(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.five_segments(f.legit(key, claims())), "malformed")


@pytest.mark.parametrize("shape", ["a.b", "a.b.c.d", "..", "a..c", ".b.c", "a.b.", "", ".", "abc"])
def test_not_three_nonempty_segments(verifier: TokenVerifier, shape: str) -> None:
    rejected(verifier, shape)


# A mangled payload segment also changes the signing input, so its signature check may fail first.
ENCODING_REASONS = ["malformed", {"malformed", "bad_signature"}, "malformed"]


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_padding(verifier: TokenVerifier, key: SigningKey, segment: int) -> None:
    rejected(verifier, f.with_padding(f.legit(key, claims()), segment), ENCODING_REASONS[segment])


@pytest.mark.parametrize("whitespace", ["\n", " ", "\t", "\r\n", "\x0b", "\u00a0"])
@pytest.mark.parametrize("segment", [0, 1, 2])
def test_whitespace(verifier: TokenVerifier, key: SigningKey, whitespace: str, segment: int) -> None:
    token = f.legit(key, claims())
    rejected(verifier, f.with_whitespace(token, whitespace, segment), ENCODING_REASONS[segment])
    rejected(verifier, token + whitespace)
    rejected(verifier, whitespace + token)


def test_standard_base64_alphabet(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.legit(key, claims())
    while "-" not in token and "_" not in token:
        token = f.legit(key, claims())
    rejected(verifier, f.standard_alphabet(token), "malformed")


def test_noncanonical_trailing_bits(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.legit(key, claims())
    forged = [f.noncanonical_b64(token, 2)]  # the signature always has unused bits (256 and 64 bytes)
    for segment in (0, 1):
        # A segment whose length is a multiple of 4 has no unused bits to flip.
        with contextlib.suppress(ValueError):
            forged.append(f.noncanonical_b64(token, segment))
    for forgery in forged:
        assert forgery != token
        rejected(verifier, forgery, {"malformed", "bad_signature"})


def test_oversized_checked_before_parsing(
    verifier: TokenVerifier, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Right at the limit is still parsed (and valid).
    at_limit = f.oversized(key, claims(), RULES.max_token_bytes - 40)
    assert len(at_limit) <= RULES.max_token_bytes
    assert verifier.verify(at_limit, NOW)

    def no_parsing(*args: object) -> None:
        raise AssertionError("parsing started")

    for name in ("_parse_header", "json_object", "b64url_decode", "check_claims"):
        monkeypatch.setattr(jwt_module, name, no_parsing)
    rejected(verifier, f.oversized(key, claims(), RULES.max_token_bytes + 1), "oversized")
    rejected(verifier, "x" * 10_000_000, "oversized")
    rejected(verifier, "é" * (RULES.max_token_bytes + 1), "oversized")


@pytest.mark.parametrize("token", [None, b"a.b.c", 42, ["a", "b", "c"], {"a": 1}])
def test_not_a_string(verifier: TokenVerifier, token: object) -> None:
    rejected(verifier, token, "malformed")


def test_non_ascii(verifier: TokenVerifier, key: SigningKey) -> None:
    token = f.legit(key, claims())
    rejected(verifier, token[:10] + "é" + token[11:], "malformed")
    rejected(verifier, token.replace(".", "\u2024", 1), "malformed")  # one-dot leader


def test_duplicate_payload_claims(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.duplicate_claim(key, claims(), "sub", "admin"), "malformed")
    rejected(verifier, f.duplicate_claim(key, claims(), "exp", int(NOW) + 10**6), "malformed")
    nested = f.raw_payload(key, f.json_bytes(claims())[:-1] + b',"cnf":{"jkt":"a","jkt":"b"}}')
    rejected(verifier, nested, "malformed")


def test_duplicate_header_members(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.duplicate_header_member(key, claims(), "alg", "none"), "malformed")
    rejected(verifier, f.duplicate_header_member(key, claims(), "kid", "other"), "malformed")
    rejected(verifier, f.duplicate_header_member(key, claims(), "typ", "JWT"), "malformed")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"exp":NaN}',
        b'{"exp":Infinity}',
        b'{"exp":-Infinity}',
        b"\xff\xfe{}",
        "\ufeff{}".encode(),
        '{"sub":"a"}'.encode("utf-16"),
        b'{"sub":"\xc3\x28"}',
        b"[]",
        b'"string"',
        b"1",
        b"null",
        b"",
        b" {}",
        b"{} ",
        b"{}{}",
        b'{"a":1',
        b"{'a':1}",
        f.nested_json(1300),
    ],
)
def test_payload_must_be_one_strict_json_object(verifier: TokenVerifier, key: SigningKey, payload: bytes) -> None:
    rejected(verifier, f.raw_payload(key, payload), "malformed")


@pytest.mark.parametrize(
    "header",
    [b"[]", b"null", b'{"alg":NaN}', b"\xff", b'{"alg":"RS256"', f.nested_json(1100), b'{"x":' + f.nested_json(1100)],
)
def test_header_must_be_one_strict_json_object(verifier: TokenVerifier, key: SigningKey, header: bytes) -> None:
    rejected(verifier, f.raw_header(key, claims(), header), "malformed")


def test_nested_but_parseable_header_is_harmless(verifier: TokenVerifier, key: SigningKey) -> None:
    deep = f.json_bytes(f.legit_header(key))[:-1] + b',"x":' + f.nested_json(100) + b"}"
    assert verifier.verify(f.raw_header(key, claims(), deep), NOW)


def test_absurdly_nested_extra_claim(verifier: TokenVerifier, key: SigningKey) -> None:
    # Deep enough to trip a recursion limit somewhere (parser or freezing), small enough to fit the size limit.
    deep = f.json_bytes(claims())[:-1] + b',"x":' + f.nested_json(1200) + b"}"
    rejected(verifier, f.raw_payload(key, deep), "malformed")
    deep = f.json_bytes(claims())[:-1] + b',"x":' + f.nested_json(600) + b"}"
    rejected(verifier, f.raw_payload(key, deep))


# --- claims -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASE_CLAIMS)
def test_each_required_claim_missing(verifier: TokenVerifier, key: SigningKey, name: str) -> None:
    assert len(BASE_CLAIMS) == 12
    rejected(verifier, f.legit(key, claims(**{name: f.MISSING})), "missing_claim")


WRONG_TYPES: dict[str, list[object]] = {
    "iss": [None, 1, [ISSUER], {"iss": ISSUER}, ISSUER + "/", ISSUER.upper(), "https://sessionward.example.evil"],
    "sub": [None, 1, "", ["u"], True],
    "aud": [None, 1, "", [], ["other"], [AUDIENCE, 1], AUDIENCE + "x", AUDIENCE.upper(), {"aud": AUDIENCE}],
    "exp": [None, "1800000300", True, 1.5, 1e300, -1, 2**53 + 1, [1], 10**30, 10**2000],
    "iat": [None, "1800000000", False, 0.5, -5, 2**60],
    "nbf": [None, "1800000000", True, 1.25, -1],
    "jti": [None, 5, "", "short", "x" * 21, ["x" * 30]],
    "sid": [None, 5, "", ["s"]],
    "client_id": [None, 5, "", {"id": "c"}],
    "auth_time": [None, "0", True, 0.1, -1],
    "acr": [None, 1, "", ["pwd"]],
    "amr": [None, "pwd", ["pwd", 1], [""], {"pwd": 1}, [["pwd"]]],
    "cnf": [None, "jkt", {}, {"jkt": ""}, {"jkt": 1}, ["jkt"]],
}


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in WRONG_TYPES.items() for v in values], ids=lambda x: repr(x)[:30]
)
def test_wrong_claim_values(verifier: TokenVerifier, key: SigningKey, name: str, value: object) -> None:
    reason = rejected(verifier, f.legit(key, claims(**{name: value})))
    assert reason in {"bad_claim", "bad_issuer", "bad_audience", "expired", "not_yet_valid", "issued_in_future"}


def test_wrong_issuer_and_audience(verifier: TokenVerifier, key: SigningKey) -> None:
    rejected(verifier, f.legit(key, claims(iss="https://evil.example")), "bad_issuer")
    rejected(verifier, f.legit(key, claims(aud="other-api")), "bad_audience")
    rejected(verifier, f.legit(key, claims(aud=["other-api"])), "bad_audience")


def test_expired_not_yet_valid_issued_in_future(verifier: TokenVerifier, key: SigningKey) -> None:
    t = int(NOW)
    rejected(verifier, f.legit(key, claims(exp=t - 31)), "expired")
    rejected(verifier, f.legit(key, claims(exp=t - 30)), "expired")  # now == exp + leeway
    assert verifier.verify(f.legit(key, claims(exp=t - 29)), NOW)
    rejected(verifier, f.legit(key, claims(nbf=t + 31)), "not_yet_valid")
    assert verifier.verify(f.legit(key, claims(nbf=t + 30)), NOW)  # now == nbf - leeway
    rejected(verifier, f.legit(key, claims(iat=t + 31)), "issued_in_future")
    assert verifier.verify(f.legit(key, claims(iat=t + 30)), NOW)  # iat == now + leeway


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_non_finite_now_accepts_nothing(ring: KeyRing, key: SigningKey, now: float) -> None:
    token = f.legit(key, claims())
    for size in (0, 16):
        v = TokenVerifier(lambda: ring, RULES, cache_size=size)
        if size:
            v.verify(token, NOW)  # cached
        rejected(v, token, now=now)


def expected_accept(now: float, exp: int, nbf: int, iat: int, leeway: float) -> bool:
    # The rules, stated as in the spec.
    return not (now >= exp + leeway) and not (now < nbf - leeway) and not (iat > now + leeway)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    now=st.floats(min_value=1e9, max_value=1e9 + 2000, allow_nan=False),
    exp=st.integers(min_value=10**9 - 100, max_value=10**9 + 2100),
    nbf=st.integers(min_value=10**9 - 100, max_value=10**9 + 2100),
    iat=st.integers(min_value=10**9 - 100, max_value=10**9 + 2100),
    leeway=st.one_of(st.sampled_from([0.0, 30.0, 0.5]), st.floats(min_value=0, max_value=120, allow_nan=False)),
)
def test_time_window_exact(ec_key: SigningKey, now: float, exp: int, nbf: int, iat: int, leeway: float) -> None:
    ring = KeyRing([ec_key])
    token = f.legit(ec_key, f.legit_claims(ISSUER, AUDIENCE, now, exp=exp, nbf=nbf, iat=iat))
    rules = VerifyRules(ISSUER, AUDIENCE, leeway)
    want = expected_accept(now, exp, nbf, iat, leeway)
    uncached = TokenVerifier(lambda: ring, rules, cache_size=0)
    cached = TokenVerifier(lambda: ring, rules)
    # Prime the cache at an instant where the token is valid (if there is one), then ask at `now`.
    for probe in (float(max(nbf, iat)) - leeway, float(max(nbf, iat))):
        if expected_accept(probe, exp, nbf, iat, leeway):
            cached.verify(token, probe)
            break
    for v in (uncached, cached):
        if want:
            assert v.verify(token, now).exp == exp
        else:
            assert rejected(v, token, now=now) in {"expired", "not_yet_valid", "issued_in_future"}


# --- keys over time -----------------------------------------------------------------------------------------


def test_retired_key_verifies_until_verify_until(key: SigningKey) -> None:
    token = f.legit(key, claims(exp=int(NOW) + 10_000))
    retired = retire(key, NOW, 600)
    ring = KeyRing([retired])
    for size in (0, 16):
        v = TokenVerifier(lambda: ring, RULES, cache_size=size)
        assert v.verify(token, NOW + 599)
        rejected(v, token, "unknown_kid", now=NOW + 600)
        rejected(v, token, "unknown_kid", now=NOW + 5000)


class Holder:
    """keys() for tests: the current snapshot, swappable like the rotation service swaps it."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def __call__(self) -> KeyRing:
        return self.ring


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = _sig.verify

    def counting(key: SigningKey, signature: bytes, data: bytes) -> None:
        calls.append(1)
        real(key, signature, data)

    monkeypatch.setattr(_sig, "verify", counting)
    return calls


def test_cache_hit_skips_signature_work(key: SigningKey, spy: list[int]) -> None:
    v = TokenVerifier(Holder(KeyRing([key])), RULES)
    token = f.legit(key, claims())
    first = v.verify(token, NOW)
    assert len(spy) == 1
    for i in range(5):
        assert v.verify("".join(token), NOW + i) is first  # equal string, different object
    assert len(spy) == 1


def test_cache_never_serves_past_exp(key: SigningKey, spy: list[int]) -> None:
    v = TokenVerifier(Holder(KeyRing([key])), RULES)
    token = f.legit(key, claims())
    v.verify(token, NOW)
    assert v.verify(token, NOW + 300 + LEEWAY - 0.001)
    rejected(v, token, "expired", now=NOW + 300 + LEEWAY)
    rejected(v, token, "expired", now=NOW + 10**6)
    # Time going backwards does not resurrect anything beyond the window either.
    rejected(v, token, {"not_yet_valid", "issued_in_future"}, now=NOW - LEEWAY - 1)


def test_cache_drops_tokens_of_a_key_that_left_the_ring(key: SigningKey, spy: list[int]) -> None:
    other = generate_key(key.alg, NOW)
    holder = Holder(KeyRing([key, other]))
    v = TokenVerifier(holder, RULES)
    token = f.legit(key, claims())
    v.verify(token, NOW)
    holder.ring = KeyRing([other])
    rejected(v, token, "unknown_kid")
    holder.ring = KeyRing([key, other])
    assert v.verify(token, NOW)  # back in the ring: verified again from scratch
    assert len(spy) == 2


def test_cache_follows_retirement(key: SigningKey, spy: list[int]) -> None:
    holder = Holder(KeyRing([key]))
    v = TokenVerifier(holder, RULES)
    token = f.legit(key, claims(exp=int(NOW) + 10_000))
    v.verify(token, NOW)
    holder.ring = KeyRing([retire(key, NOW, 100)])
    assert v.verify(token, NOW + 99)
    assert len(spy) == 1  # same key material: re-anchored without signature work
    rejected(v, token, "unknown_kid", now=NOW + 100)


def test_cache_survives_a_reload_of_the_same_keys(key: SigningKey, spy: list[int]) -> None:
    holder = Holder(KeyRing([key]))
    v = TokenVerifier(holder, RULES)
    token = f.legit(key, claims())
    v.verify(token, NOW)
    reloaded = load_signing_key(key.kid, key.alg, private_key_pem(key), key.created_at, key.state, None)
    holder.ring = KeyRing([reloaded])
    assert v.verify(token, NOW + 1)
    assert len(spy) == 1


def test_cache_does_not_trust_a_new_key_under_an_old_kid(key: SigningKey, spy: list[int]) -> None:
    holder = Holder(KeyRing([key]))
    v = TokenVerifier(holder, RULES)
    token = f.legit(key, claims())
    v.verify(token, NOW)
    impostor = SigningKey(key.kid, key.alg, generate_key(key.alg, NOW).private_key, NOW)
    holder.ring = KeyRing([impostor])
    rejected(v, token, "bad_signature")


def test_cache_is_bounded(key: SigningKey, spy: list[int]) -> None:
    v = TokenVerifier(Holder(KeyRing([key])), RULES, cache_size=2)
    a, b, c = (f.legit(key, claims()) for _ in range(3))
    for token in (a, b, c):
        v.verify(token, NOW)
    v.verify(c, NOW)
    v.verify(b, NOW)
    assert len(spy) == 3
    v.verify(a, NOW)  # evicted first (FIFO)
    assert len(spy) == 4


def test_cache_size_zero_always_verifies(key: SigningKey, spy: list[int]) -> None:
    v = TokenVerifier(Holder(KeyRing([key])), RULES, cache_size=0)
    token = f.legit(key, claims())
    for _ in range(3):
        v.verify(token, NOW)
    assert len(spy) == 3
    with pytest.raises(ValueError, match="cache_size"):
        TokenVerifier(Holder(KeyRing([key])), RULES, cache_size=-1)


def test_rejections_are_not_cached(key: SigningKey, spy: list[int]) -> None:
    v = TokenVerifier(Holder(KeyRing([key])), RULES)
    token = f.legit(key, claims(nbf=int(NOW) + 100))
    rejected(v, token, "not_yet_valid")
    assert v.verify(token, NOW + 100)


# --- the base64url codec, against its definition --------------------------------------------------------------


def reencodes(segment: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return False
    return bool(segment) and base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=500)
@given(st.text(alphabet=ALPHABET + "=+/ \n.", max_size=12))
def test_segment_accepted_iff_canonical(segment: str) -> None:
    # The spec's definition: urlsafe alphabet only, and the bytes re-encode to the identical segment.
    expected = all(c in ALPHABET for c in segment) and reencodes(segment)
    try:
        b64url_decode(segment)
        accepted = True
    except TokenRejected:
        accepted = False
    assert accepted == expected


@given(st.binary(max_size=300))
def test_codec_round_trip(data: bytes) -> None:
    encoded = b64url_encode(data)
    assert encoded == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    if data:
        assert b64url_decode(encoded) == data
