"""DPoP (RFC 9449) through the real HTTPS server: binding at sign-in and refresh, every use proven."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.dpop_client import DpopKey
from tests.forgery import payload_of
from tests.service.conftest import Server
from tests.service.dpop_helpers import dpop_headers, dpop_login, dpop_me, dpop_refresh, proof_for
from tests.service.helpers import PASSWORD, SHORT_POLICY, bearer, login, me_status, refresh
from tests.service.test_revocation import basic

SECRET = {
    "SESSIONWARD_CLIENTS__RS__CLIENT_SECRET": "rs-secret-value-1234",
    "SESSIONWARD_CLIENTS__RS__INTROSPECT_ANY": "true",
}


@pytest.fixture
def dpop_server(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env={**SHORT_POLICY, **SECRET}, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


def dpop_challenge(r: httpx2.Response, error: str = "invalid_dpop_proof") -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == error
    assert r.headers["www-authenticate"].startswith(f'DPoP error="{error}"')


def test_a_proof_at_sign_in_binds_the_tokens_and_every_use_needs_one(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        r = dpop_login(dpop_server, c, key)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["token_type"] == "DPoP"
        assert payload_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
        me = dpop_me(dpop_server, c, key, body["access_token"])
        assert me.status_code == 200, me.text
        assert me.json()["session_id"] == body["session_id"]
        # Every request its own proof; RS256 and the other algorithms work the same way.
        assert dpop_me(dpop_server, c, key, body["access_token"]).status_code == 200


@pytest.mark.parametrize("alg", ["RS256", "PS256", "EdDSA", "Ed25519"])
def test_every_advertised_algorithm_binds(dpop_server: Server, alg: str) -> None:
    key = DpopKey(alg)
    with dpop_server.client() as c:
        body = dpop_login(dpop_server, c, key).json()
        assert dpop_me(dpop_server, c, key, body["access_token"]).status_code == 200


def test_an_ed25519_proof_as_current_panva_clients_sign_it(dpop_server: Server) -> None:
    """jose 6 / oauth4webapi sign `alg: "Ed25519"` (RFC 9864): sign-in, resource, refresh, and discovery and the
    challenge name both spellings; a proof of the other spelling by the same key is the same key."""
    key = DpopKey("Ed25519")
    with dpop_server.client() as c:
        conf = c.get("/.well-known/openid-configuration").json()
        assert {"Ed25519", "EdDSA"} <= set(conf["dpop_signing_alg_values_supported"])
        r = dpop_login(dpop_server, c, key)
        assert r.status_code == 201, r.text
        body = r.json()
        assert payload_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
        assert dpop_me(dpop_server, c, key, body["access_token"]).status_code == 200
        assert dpop_me(dpop_server, c, key, body["access_token"], alg="EdDSA").status_code == 200
        r = dpop_refresh(dpop_server, c, key, body["refresh_token"])
        assert r.status_code == 200, r.text
        refused = c.get("/v1/me", headers={"Authorization": f"DPoP {r.json()['access_token']}"})
        algs = refused.headers["www-authenticate"].partition('algs="')[2].partition('"')[0].split()
        assert {"Ed25519", "EdDSA"} <= set(algs)


def test_a_bound_token_as_bearer_or_without_a_proof_is_refused(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        token = dpop_login(dpop_server, c, key).json()["access_token"]
        r = c.get("/v1/me", headers=bearer(token))
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        r = c.get(
            "/v1/me", headers={**bearer(token), "DPoP": proof_for(dpop_server, key, "GET", "/v1/me", token=token)}
        )
        assert r.status_code == 401  # a proof does not make a bearer presentation acceptable
        dpop_challenge(c.get("/v1/me", headers={"Authorization": f"DPoP {token}"}))
        two = dpop_headers(dpop_server, key, token)
        r = c.get(
            "/v1/me", headers=[("Authorization", two["Authorization"]), ("DPoP", two["DPoP"]), ("DPoP", two["DPoP"])]
        )
        dpop_challenge(r)


def test_an_unbound_token_is_not_accepted_under_the_dpop_scheme(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        token = login(dpop_server, c)["access_token"]
        assert dpop_me(dpop_server, c, key, token).status_code == 401
        assert me_status(c, token) == 200


def test_a_proof_by_another_key_replayed_or_for_another_request_is_refused(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        token = dpop_login(dpop_server, c, key).json()["access_token"]
        dpop_challenge(dpop_me(dpop_server, c, DpopKey(), token))
        headers = dpop_headers(dpop_server, key, token)
        assert c.get("/v1/me", headers=headers).status_code == 200
        dpop_challenge(c.get("/v1/me", headers=headers))
        dpop_challenge(c.get("/v1/me", headers=dpop_headers(dpop_server, key, token, method="DELETE")))
        dpop_challenge(c.get("/v1/me", headers=dpop_headers(dpop_server, key, token, path="/v1/sessions")))
        dpop_challenge(dpop_me(dpop_server, c, key, token, iat=int(dpop_server.clock.now()) - 3600))
        other_ath = proof_for(dpop_server, key, "GET", "/v1/me", token="another.access.token")
        dpop_challenge(c.get("/v1/me", headers={"Authorization": f"DPoP {token}", "DPoP": other_ath}))
        assert dpop_me(dpop_server, c, key, token).status_code == 200  # nothing above spent the session


def test_a_bad_proof_at_sign_in_is_400_and_costs_no_session(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        r = dpop_login(dpop_server, c, key, typ="JWT")
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_dpop_proof"
        proof = proof_for(dpop_server, key, "POST", "/v1/sessions")
        first = c.post("/v1/sessions", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof})
        assert first.status_code == 201
        again = c.post("/v1/sessions", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof})
        assert (again.status_code, again.json()["error"]) == (400, "invalid_dpop_proof")
        cookie = c.post(
            "/v1/sessions",
            json={"username": "alice", "password": PASSWORD, "transport": "cookie"},
            headers={"DPoP": proof_for(dpop_server, key, "POST", "/v1/sessions")},
        )
        assert cookie.status_code == 400


def test_a_bound_refresh_token_needs_a_proof_by_the_same_key(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        first = dpop_login(dpop_server, c, key).json()
        assert dpop_refresh(dpop_server, c, None, first["refresh_token"]).status_code == 401
        assert dpop_refresh(dpop_server, c, DpopKey(), first["refresh_token"]).status_code == 401
        r = dpop_refresh(dpop_server, c, key, first["refresh_token"])
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["token_type"] == "DPoP"
        assert payload_of(second["access_token"])["cnf"] == {"jkt": key.jkt}
        assert dpop_me(dpop_server, c, key, second["access_token"]).status_code == 200
        # The refused attempts ended nothing: the session lives on.
        assert dpop_refresh(dpop_server, c, key, second["refresh_token"]).status_code == 200


def test_a_proof_at_refresh_binds_an_unbound_session_for_good(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        first = login(dpop_server, c)
        r = dpop_refresh(dpop_server, c, key, first["refresh_token"])
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["token_type"] == "DPoP"
        assert dpop_me(dpop_server, c, key, second["access_token"]).status_code == 200
        assert refresh(c, second["refresh_token"]).status_code == 401
        assert dpop_refresh(dpop_server, c, key, second["refresh_token"]).status_code == 200


def test_the_server_nonce_when_it_asks_for_one(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env={"SESSIONWARD_TOKENS__DPOP_NONCE": "true"}, clock=clock)
    server.add_user("alice", PASSWORD)
    key = DpopKey()
    with server.client() as c:
        r = dpop_login(server, c, key)
        assert (r.status_code, r.json()["error"]) == (400, "use_dpop_nonce")
        nonce = r.headers["dpop-nonce"]
        r = dpop_login(server, c, key, nonce=nonce)
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        r = dpop_me(server, c, key, token)
        dpop_challenge(r, "use_dpop_nonce")
        assert r.headers["dpop-nonce"] == nonce
        assert dpop_me(server, c, key, token, nonce=nonce).status_code == 200
        assert dpop_me(server, c, key, token, nonce=nonce[:-2] + "AA").status_code == 401
        clock.advance(600)  # two periods later the nonce is stale; the server names the new one
        r = dpop_login(server, c, key, nonce=nonce)
        assert r.status_code == 400 and r.headers["dpop-nonce"] != nonce


def test_discovery_introspection_and_password_change_know_dpop(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        conf = c.get("/.well-known/openid-configuration").json()
        assert set(conf["dpop_signing_alg_values_supported"]) >= {"ES256", "RS256"}
        body = dpop_login(dpop_server, c, key).json()
        token = body["access_token"]
        intro = c.post(
            "/v1/oauth/introspect",
            data={"token": token},
            headers=basic("rs", SECRET["SESSIONWARD_CLIENTS__RS__CLIENT_SECRET"]),
        ).json()
        assert intro["active"] is True
        assert (intro["cnf"], intro["token_type"]) == ({"jkt": key.jkt}, "DPoP")
        changed = c.post(
            "/v1/password",
            json={"current_password": PASSWORD, "new_password": "another long password"},
            headers=dpop_headers(dpop_server, key, token, method="POST", path="/v1/password"),
        )
        assert changed.status_code == 200, changed.text
        fresh = changed.json()
        assert fresh["token_type"] == "DPoP"
        assert payload_of(fresh["access_token"])["cnf"] == {"jkt": key.jkt}


def test_a_proof_at_the_second_factor_step_binds_the_new_session(dpop_server: Server, clock: FakeClock) -> None:
    from tests.service.test_mfa import enrol, password_step, totp_code

    key = DpopKey()
    with dpop_server.client() as c:
        secret, _codes = enrol(c, login(dpop_server, c)["access_token"], clock)
        token = password_step(dpop_server, c)
        r = c.post(
            "/v1/sessions/mfa",
            json={"mfa_token": token, "method": "totp", "code": totp_code(secret, clock)},
            headers={"DPoP": proof_for(dpop_server, key, "POST", "/v1/sessions/mfa")},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["token_type"] == "DPoP"
        assert payload_of(body["access_token"])["cnf"] == {"jkt": key.jkt}
        assert dpop_me(dpop_server, c, key, body["access_token"]).status_code == 200
        assert c.get("/v1/me", headers=bearer(body["access_token"])).status_code == 401
