"""WebAuthn through the real server with a software authenticator: registration, sign-in, step-up, removal, and
every way an attacker or a broken client might try to get an assertion accepted that should not be."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from sessionward.clock import FakeClock
from sessionward.core.assurance import LOA_MFA, LOA_PASSWORD
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login, me_status, refresh
from tests.service.soft_authenticator import SoftAuthenticator
from tests.service.test_mfa import challenge_of, enrol, totp_code


@pytest.fixture
def alice(server: Server) -> str:
    return server.add_user("alice", PASSWORD)


@pytest.fixture
def key(server: Server) -> SoftAuthenticator:
    return SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")


def register(client: httpx2.Client, access_token: str, key: SoftAuthenticator, name: str = "") -> dict[str, Any]:
    r = client.post("/v1/mfa/webauthn", headers=bearer(access_token))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    options = r.json()
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options), "name": name}, headers=bearer(access_token)
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def password_step(server: Server, client: httpx2.Client) -> tuple[str, list[str]]:
    r = server.login(client, "alice", PASSWORD)
    assert r.status_code == 401 and r.json()["error"] == "mfa_required", r.text
    return r.json()["mfa_token"], r.json()["methods"]


def login_options(client: httpx2.Client, mfa_token: str) -> dict[str, Any]:
    r = client.post("/v1/sessions/mfa/webauthn", json={"mfa_token": mfa_token})
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()
    return options


def key_step(client: httpx2.Client, mfa_token: str, assertion: dict[str, Any]) -> httpx2.Response:
    return client.post("/v1/sessions/mfa", json={"mfa_token": mfa_token, "method": "webauthn", "credential": assertion})


def key_login(server: Server, client: httpx2.Client, key: SoftAuthenticator) -> dict[str, Any]:
    token, _methods = password_step(server, client)
    r = key_step(client, token, key.get(login_options(client, token)))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def step_up_options(client: httpx2.Client, access_token: str) -> dict[str, Any]:
    r = client.post("/v1/sessions/step-up/webauthn", headers=bearer(access_token))
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()
    return options


def key_step_up(client: httpx2.Client, access_token: str, assertion: dict[str, Any]) -> httpx2.Response:
    return client.post(
        "/v1/sessions/step-up", json={"method": "webauthn", "credential": assertion}, headers=bearer(access_token)
    )


def test_a_registered_key_is_the_second_factor_at_sign_in(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    s = login(server, client)
    other = login(server, client)
    registered = register(client, s["access_token"], key, "YubiKey 5")
    assert registered["credential_id"] == key.id and registered["name"] == "YubiKey 5"
    codes = registered["recovery_codes"]
    assert len(codes) == 10  # the first factor comes with recovery codes
    # The first factor keeps the user's other sessions (see test_first_factor.py); a later one ends them.
    assert me_status(client, other["access_token"]) == 200
    assert me_status(client, s["access_token"]) == 200
    factors = client.get("/v1/mfa", headers=bearer(s["access_token"])).json()
    assert factors["totp"] is False and factors["recovery_codes_left"] == 10
    assert [(k["credential_id"], k["name"], k["last_used_at"]) for k in factors["webauthn"]] == [
        (key.id, "YubiKey 5", None)
    ]

    token, methods = password_step(server, client)
    assert methods == ["webauthn", "recovery_code"]
    session = key_step(client, token, key.get(login_options(client, token)))
    assert session.status_code == 201, session.text
    body = session.json()
    assert (body["acr"], body["amr"]) == (LOA_MFA, ["pwd", "hwk", "mfa"])
    me = client.get("/v1/me", headers=bearer(body["access_token"])).json()
    assert (me["acr"], me["amr"]) == (LOA_MFA, ["pwd", "hwk", "mfa"])
    listed = client.get("/v1/mfa", headers=bearer(body["access_token"])).json()["webauthn"]
    assert listed[0]["last_used_at"] is not None


def test_an_assertion_is_accepted_once(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    register(client, login(server, client)["access_token"], key)
    token, _ = password_step(server, client)
    assertion = key.get(login_options(client, token))
    assert key_step(client, token, assertion).status_code == 201
    # The same assertion with a fresh mfa_token: its challenge is used.
    token, _ = password_step(server, client)
    login_options(client, token)
    r = key_step(client, token, assertion)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_a_challenge_answers_only_what_it_was_issued_for(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    """A challenge of one login does not complete another login, nor a step-up, and the other way round."""
    register(client, login(server, client)["access_token"], key)
    first, _ = password_step(server, client)
    second, _ = password_step(server, client)
    for_first = key.get(login_options(client, first))
    r = key_step(client, second, for_first)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")

    s = key_login(server, client, key)
    for_step_up = key.get(step_up_options(client, s["access_token"]))
    third, _ = password_step(server, client)
    assert key_step(client, third, for_step_up).status_code == 401
    for_login = key.get(login_options(client, third))
    assert key_step_up(client, s["access_token"], for_login).status_code == 401


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"origin": "https://evil.example"}, id="another-origin"),
        pytest.param({"origin": "https://127.0.0.1:1"}, id="another-port"),
        pytest.param({"rp_id": "evil.example"}, id="another-rp-id"),
    ],
)
def test_an_assertion_for_another_origin_or_relying_party_is_refused(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator, tamper: dict[str, str]
) -> None:
    register(client, login(server, client)["access_token"], key)
    token, _ = password_step(server, client)
    r = key_step(client, token, key.get(login_options(client, token), **tamper))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_without_user_verification_nothing_is_accepted(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    s = login(server, client)
    key.user_verified = False
    options = client.post("/v1/mfa/webauthn", headers=bearer(s["access_token"])).json()
    assert options["publicKey"]["authenticatorSelection"]["userVerification"] == "required"
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(s["access_token"])
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    assert client.get("/v1/mfa", headers=bearer(s["access_token"])).json()["webauthn"] == []

    key.user_verified = True
    register(client, s["access_token"], key)
    key.user_verified = False  # a key that only tests presence, not the person
    token, _ = password_step(server, client)
    r = key_step(client, token, key.get(login_options(client, token)))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_a_cloned_key_with_a_stale_counter_is_refused(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    register(client, login(server, client)["access_token"], key)
    key_login(server, client, key)
    key_login(server, client, key)  # the counter stands at 2
    token, _ = password_step(server, client)
    r = key_step(client, token, key.get(login_options(client, token), count=2))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_a_key_of_another_user_or_an_unknown_key_is_refused(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    server.add_user("bob", PASSWORD)
    register(client, login(server, client)["access_token"], key)
    bobs_key = SoftAuthenticator(origin=key.origin)
    register(client, login(server, client, "bob")["access_token"], bobs_key)
    stranger = SoftAuthenticator(origin=key.origin)
    for wrong in (bobs_key, stranger):
        token, _ = password_step(server, client)
        r = key_step(client, token, wrong.get(login_options(client, token)))
        assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_an_expired_challenge_is_refused(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str, key: SoftAuthenticator
) -> None:
    s = login(server, client)
    options = client.post("/v1/mfa/webauthn", headers=bearer(s["access_token"])).json()
    clock.advance(301)
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(s["access_token"])
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "!!",
            "rawId": "!!",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "", "signature": ""},
        },
        {"id": 1, "rawId": [], "type": None, "response": "x"},
    ],
)
def test_a_malformed_answer_is_a_clear_refusal_never_a_500(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator, garbage: dict[str, Any]
) -> None:
    s = login(server, client)
    register(client, s["access_token"], key)
    token, _ = password_step(server, client)
    login_options(client, token)
    r = key_step(client, token, garbage)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    r = client.post("/v1/sessions/mfa", json={"mfa_token": token, "method": "webauthn", "credential": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = client.post("/v1/sessions/mfa", json={"mfa_token": token, "method": "webauthn"})
    assert r.status_code == 400


def test_wrong_assertions_are_throttled_like_codes(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    register(client, login(server, client)["access_token"], key)
    stranger = SoftAuthenticator(origin=key.origin)
    statuses = []
    for _ in range(12):
        token, _ = password_step(server, client)
        statuses.append(key_step(client, token, stranger.get(login_options(client, token))).status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # While throttled even the right key waits.
    token, _ = password_step(server, client)
    r = key_step(client, token, key.get(login_options(client, token)))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_step_up_with_a_key_then_a_sensitive_operation(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str, key: SoftAuthenticator
) -> None:
    s = login(server, client)
    register(client, s["access_token"], key)
    # A password-only session of a user with a factor: removing the key needs a fresh second factor.
    header = challenge_of(client.delete(f"/v1/mfa/webauthn/{key.id}", headers=bearer(s["access_token"])))
    assert f'acr_values="{LOA_MFA}"' in header and 'max_age="300"' in header

    r = key_step_up(client, s["access_token"], key.get(step_up_options(client, s["access_token"])))
    assert r.status_code == 200, r.text
    up = r.json()
    assert (up["acr"], up["amr"]) == (LOA_MFA, ["pwd", "hwk", "mfa"])

    # Past step_up_max_age it falls back and is refused again.
    clock.advance(301)
    challenge_of(client.delete(f"/v1/mfa/webauthn/{key.id}", headers=bearer(up["access_token"])))
    fallen = refresh(client, up["refresh_token"]).json()
    assert (fallen["acr"], fallen["amr"]) == (LOA_PASSWORD, ["pwd"])

    r = key_step_up(client, fallen["access_token"], key.get(step_up_options(client, fallen["access_token"])))
    assert r.status_code == 200
    again = r.json()
    other = key_login(server, client, key)
    r = client.delete(f"/v1/mfa/webauthn/{key.id}", headers=bearer(again["access_token"]))
    assert r.status_code == 204
    # Removing the last factor ends the other sessions and takes the recovery codes with it.
    assert me_status(client, other["access_token"]) == 401
    factors = client.get("/v1/mfa", headers=bearer(again["access_token"])).json()
    assert factors == {"totp": False, "webauthn": [], "recovery_codes_left": 0, "methods": []}
    assert login(server, client)["acr"] == LOA_PASSWORD  # password-only again
    r = client.delete(f"/v1/mfa/webauthn/{key.id}", headers=bearer(again["access_token"]))
    assert r.status_code == 404


def test_a_second_factor_next_to_totp_needs_a_fresh_factor_and_keeps_the_codes(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str, key: SoftAuthenticator
) -> None:
    s = login(server, client)
    secret, codes = enrol(client, s["access_token"], clock)
    challenge_of(client.post("/v1/mfa/webauthn", headers=bearer(s["access_token"])))
    r = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(s["access_token"]),
    )
    up = r.json()
    registered = register(client, up["access_token"], key)
    assert "recovery_codes" not in registered  # not the first factor: the codes stay as they were
    token, methods = password_step(server, client)
    assert methods == ["totp", "webauthn", "recovery_code"]
    assert (
        client.post(
            "/v1/sessions/mfa", json={"mfa_token": token, "method": "recovery_code", "code": codes[0]}
        ).status_code
        == 201
    )
    key_login(server, client, key)
    # Registering the same authenticator again is refused.
    options = client.post("/v1/mfa/webauthn", headers=bearer(up["access_token"])).json()
    assert [c["id"] for c in options["publicKey"]["excludeCredentials"]] == [key.id]
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(up["access_token"])
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_no_key_means_no_key_options(server: Server, client: httpx2.Client, clock: FakeClock, alice: str) -> None:
    s = login(server, client)
    r = client.post("/v1/sessions/step-up/webauthn", headers=bearer(s["access_token"]))
    assert (r.status_code, r.json()["error"]) == (403, "mfa_enrollment_required")
    enrol(client, s["access_token"], clock)
    token, _ = password_step(server, client)
    r = client.post("/v1/sessions/mfa/webauthn", json={"mfa_token": token})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = client.post("/v1/sessions/mfa/webauthn", json={"mfa_token": "not-a-token"})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_an_issuer_on_a_public_ip_address_refuses_webauthn_clearly(make_server: Any, clock: FakeClock) -> None:
    server = make_server({"SESSIONWARD_SERVER__ISSUER": "https://192.0.2.10:8443"}, clock)
    server.add_user("alice", PASSWORD)
    base_url = f"https://127.0.0.1:{server.settings.server.port}"  # the issuer is not this node's address
    with httpx2.Client(base_url=base_url, verify=server.ssl_context(), timeout=10.0) as client:
        r = client.post("/v1/mfa/webauthn", headers=bearer(login(server, client)["access_token"]))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert "issuer" in r.json()["error_description"]


def test_a_ceremony_may_span_two_nodes_and_is_still_accepted_once(make_server: Any) -> None:
    """Options from one node, the answer to another (a load balancer without stickiness): the challenge lives in
    the shared store, so it works, and a replay to either node is refused."""
    env = {"SESSIONWARD_SERVER__ISSUER": "https://sessionward.test"}
    a = make_server(env, name="shared")
    a.add_user("alice", PASSWORD)
    b = make_server(env, name="shared")
    key = SoftAuthenticator(origin="https://sessionward.test", rp_id="sessionward.test")

    def client(node: Server) -> httpx2.Client:
        base_url = f"https://127.0.0.1:{node.settings.server.port}"
        return httpx2.Client(base_url=base_url, verify=node.ssl_context(), timeout=10.0)

    with client(a) as ca, client(b) as cb:
        token = login(a, ca)["access_token"]
        options = ca.post("/v1/mfa/webauthn", headers=bearer(token)).json()
        assert options["publicKey"]["rp"]["id"] == "sessionward.test"
        r = cb.post("/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(token))
        assert r.status_code == 200, r.text
        mfa_token = a.login(ca, "alice", PASSWORD).json()["mfa_token"]
        assertion = key.get(login_options(cb, mfa_token))
        assert key_step(ca, mfa_token, assertion).status_code == 201
        again = b.login(cb, "alice", PASSWORD).json()["mfa_token"]
        login_options(cb, again)
        for node in (ca, cb):
            assert key_step(node, again, assertion).status_code == 401


def test_an_overlong_credential_id_is_refused_not_stored(
    server: Server, client: httpx2.Client, alice: str, key: SoftAuthenticator
) -> None:
    key.credential_id = bytes(1024)  # one byte past WebAuthn's limit
    s = login(server, client)
    options = client.post("/v1/mfa/webauthn", headers=bearer(s["access_token"])).json()
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(s["access_token"])
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    assert client.get("/v1/mfa", headers=bearer(s["access_token"])).json()["webauthn"] == []
