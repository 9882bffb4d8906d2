"""The forged-token suite fired at GET /v1/me through the real HTTPS server: every one rejected as invalid_token.

The control case (a token correctly signed by the server's own key) is accepted, so each attack fails for its
own reason and not because the harness is broken.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import anyio
import pytest

import tests.forgery as f
from sessionward.crypto.keys import SigningKey
from sessionward.services.container import open_services
from tests.service.conftest import Server, start_server
from tests.service.helpers import PASSWORD
from tests.unit.test_jwt_verify import Listener

REQUIRED = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "client_id", "auth_time", "acr", "amr")


# The claims every forged token starts from name a real, live session (SPEC 4: a token naming a session that
# never existed is refused), so each attack below fails for its own reason.
SESSION: dict[str, object] = {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, SigningKey, SigningKey]]:
    server, stop = start_server(tmp_path_factory.mktemp("forgery"))
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        body = server.login(c, "alice", PASSWORD).json()
    issued = f.payload_of(body["access_token"])
    SESSION.update(sub=issued["sub"], sid=issued["sid"], client_id=issued["client_id"])

    async def keys() -> tuple[SigningKey, SigningKey]:
        svc = await open_services(server.settings)
        try:
            ring = await svc.keyring.reload()
            return ring.active("ES256"), ring.active("RS256")
        finally:
            await svc.close()

    ec_key, rsa_key = anyio.run(keys)
    yield server, ec_key, rsa_key
    stop()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


def attacks(server: Server, ec: SigningKey, rsa: SigningKey, listener_port: int) -> dict[str, Callable[[], str]]:
    now = time.time()

    def claims(**overrides: object) -> dict[str, object]:
        return f.legit_claims(server.base_url, "sessionward", now, **{**SESSION, **overrides})

    url = f"http://127.0.0.1:{listener_port}/jwks.json"
    cases: dict[str, Callable[[], str]] = {}
    for case in f.none_variants():
        cases[f"alg-{case}"] = lambda case=case: f.alg_none(claims(), case=case, kid=ec.kid)
    for variant in ("pem", "pem_no_newline", "jwk"):
        for key in (ec, rsa):
            cases[f"hs256-{variant}-{key.alg}"] = lambda key=key, variant=variant: f.hs256_with_public_key(
                key, claims(), variant
            )
    cases["hs256-empty-key"] = lambda: f.hs256_empty_key(ec, claims())
    cases["embedded-jwk"] = lambda: f.embedded_jwk(claims())
    cases["embedded-jwk-victim-kid"] = lambda: f.embedded_jwk(claims(), kid=ec.kid)
    cases["jku"] = lambda: f.attacker_with_header(claims(), {"jku": url}, alg="ES256", kid=ec.kid)
    cases["x5u"] = lambda: f.attacker_with_header(claims(), {"x5u": url}, alg="RS256", kid=rsa.kid)
    cases["x5c"] = lambda: f.x5c_self_signed(claims(), kid=ec.kid, x5u=url)
    cases["jku-legit-signature"] = lambda: f.with_header(ec, claims(), {"jku": url})
    for i, kid in enumerate(f.kid_injections(ec.kid)):
        cases[f"kid-injection-{i}"] = lambda kid=kid: f.kid_injection(ec, claims(), kid)
    n = f.P256_ORDER
    for name, (r, s) in {
        "zero": (0, 0),
        "r0": (0, 1),
        "s0": (1, 0),
        "rn": (n, 1),
        "sn": (1, n),
        "r>n": (n + 1, 1),
    }.items():
        cases[f"es256-{name}"] = lambda r=r, s=s: f.es256_raw_signature(ec, claims(), r, s)
    cases["es256-der"] = lambda: f.es256_der_signature(ec, claims())
    cases["stripped-signature"] = lambda: f.strip_signature(f.legit(ec, claims()))
    cases["truncated-signature"] = lambda: f.truncate_signature(f.legit(rsa, claims()))
    cases["tampered-payload"] = lambda: f.tamper_payload(f.legit(ec, claims()), sub="admin")
    cases["alg-swapped"] = lambda: f.swap_alg(f.legit(rsa, claims()), "ES256")
    cases["other-key-same-kid"] = lambda: f.other_key_same_kid(ec, claims())
    for typ in ("JWT", "AT+JWT", "application/at+jwt"):
        cases[f"typ-{typ}"] = lambda typ=typ: f.legit(ec, claims(), typ=typ)
    cases["typ-missing"] = lambda: f.legit(ec, claims(), typ=None)
    cases["wrong-iss"] = lambda: f.legit(ec, claims(iss="https://evil.example"))
    cases["wrong-aud"] = lambda: f.legit(ec, claims(aud="another-api"))
    cases["expired"] = lambda: f.legit(ec, claims(exp=int(now) - 60, iat=int(now) - 400, nbf=int(now) - 400))
    cases["not-yet-valid"] = lambda: f.legit(ec, claims(nbf=int(now) + 600, exp=int(now) + 900))
    for claim in REQUIRED:
        cases[f"missing-{claim}"] = lambda claim=claim: f.legit(ec, claims(**{claim: f.MISSING}))
    cases["five-segments"] = lambda: f.five_segments(f.legit(ec, claims()))
    cases["padding"] = lambda: f.with_padding(f.legit(ec, claims()))
    cases["whitespace"] = lambda: f.with_whitespace(f.legit(ec, claims()), "\t")
    cases["oversized"] = lambda: f.oversized(ec, claims())
    return cases


def test_the_control_token_is_accepted(live: tuple[Server, SigningKey, SigningKey]) -> None:
    server, ec, rsa = live
    with server.client() as c:
        for key in (ec, rsa):
            token = f.legit(key, f.legit_claims(server.base_url, "sessionward", time.time(), **SESSION))
            assert c.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_every_forged_token_is_rejected(live: tuple[Server, SigningKey, SigningKey], listener: Listener) -> None:
    server, ec, rsa = live
    cases = attacks(server, ec, rsa, listener.port)
    assert len(cases) > 60
    accepted = []
    with server.client() as c:
        for name, build in cases.items():
            r = c.get("/v1/me", headers={"Authorization": f"Bearer {build()}"})
            if (
                r.status_code != 401
                or r.json()
                != {
                    "error": "invalid_token",
                    "error_description": "the access token is missing, invalid, expired or revoked",
                }
                or r.headers.get("www-authenticate") != 'Bearer error="invalid_token"'
            ):
                accepted.append((name, r.status_code, r.text[:120]))
    assert accepted == []
    listener.stop.wait(0.2)
    assert listener.connections == 0, "the server fetched a key from a header URL"


def test_rejections_are_audited_with_a_reason_and_without_the_token(
    live: tuple[Server, SigningKey, SigningKey],
) -> None:
    server, ec, _rsa = live
    token = f.alg_none(f.legit_claims(server.base_url, "sessionward", time.time()), kid=ec.kid)
    with server.client() as c:
        c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})

    async def trail() -> list[tuple[str, str]]:
        svc = await open_services(server.settings)
        try:
            return [(r.event, r.data_json) async for r in svc.store.audit_records()]
        finally:
            await svc.close()

    records = anyio.run(trail)
    reasons = {json.loads(data)["reason"] for event, data in records if event == "token.rejected"}
    assert reasons
    assert token not in json.dumps(records)
    assert token.split(".")[1] not in json.dumps(records)


def test_tokens_in_cookies_or_query_are_not_read(live: tuple[Server, SigningKey, SigningKey]) -> None:
    server, ec, _rsa = live
    token = f.legit(ec, f.legit_claims(server.base_url, "sessionward", time.time(), **SESSION))
    with server.client() as c:
        assert c.get("/v1/me", params={"access_token": token}).status_code == 401
        assert c.get("/v1/me", headers={"Cookie": f"access_token={token}"}).status_code == 401
        assert c.get("/v1/me", headers={"Authorization": f"Bearer  {token}"}).status_code == 401
        assert c.get("/v1/me", headers={"Authorization": f"Token {token}"}).status_code == 401
