"""Every refused DPoP proof is in the audit trail as `dpop.rejected` with its reason, wherever it came: sign-in,
the second step, refresh, and with an access token. A replayed proof at a token endpoint is the sign of a
stolen key, so the record names the key (its public thumbprint); never the proof or any token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sessionward.clock import FakeClock
from tests.dpop_client import DpopKey
from tests.service.conftest import Server
from tests.service.dpop_helpers import dpop_headers, dpop_login, dpop_refresh, proof_for
from tests.service.helpers import PASSWORD, SHORT_POLICY, login
from tests.service.test_audit_trail import records


@pytest.fixture
def dpop_server(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=SHORT_POLICY, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


def dpop_refusals(server: Server) -> list[dict[str, Any]]:
    return [json.loads(r.data_json) for r in records(server) if r.event == "dpop.rejected"]


def assert_no_secret(server: Server, *secrets: str) -> None:
    blob = json.dumps([(r.event, r.data_json) for r in records(server)])
    for secret in secrets:
        assert secret not in blob
        assert secret.split(".")[-1] not in blob  # not even a proof's or a token's signature


def test_a_replayed_or_bad_proof_at_sign_in_is_audited(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        proof = proof_for(dpop_server, key, "POST", "/v1/sessions")
        login_body = {"username": "alice", "password": PASSWORD}
        assert c.post("/v1/sessions", json=login_body, headers={"DPoP": proof}).status_code == 201
        replay = c.post("/v1/sessions", json=login_body, headers={"DPoP": proof})
        assert (replay.status_code, replay.json()["error"]) == (400, "invalid_dpop_proof")
        assert dpop_login(dpop_server, c, key, typ="JWT").status_code == 400
    refusals = dpop_refusals(dpop_server)
    assert refusals == [
        {"reason": "replayed", "ip": "127.0.0.1", "method": "POST", "path": "/v1/sessions", "jkt": key.jkt},
        {"reason": "bad_typ", "ip": "127.0.0.1", "method": "POST", "path": "/v1/sessions"},
    ]
    assert_no_secret(dpop_server, proof, PASSWORD)


def test_a_replayed_proof_at_the_second_step_is_audited(dpop_server: Server, clock: FakeClock) -> None:
    from tests.service.test_mfa import enrol, password_step, totp_code

    key = DpopKey()
    with dpop_server.client() as c:
        secret, _codes = enrol(c, login(dpop_server, c)["access_token"], clock)
        proof = proof_for(dpop_server, key, "POST", "/v1/sessions/mfa")
        first = c.post(
            "/v1/sessions/mfa",
            json={"mfa_token": password_step(dpop_server, c), "method": "totp", "code": totp_code(secret, clock)},
            headers={"DPoP": proof},
        )
        assert first.status_code == 201, first.text
        mfa_token = password_step(dpop_server, c)
        r = c.post(
            "/v1/sessions/mfa",
            json={"mfa_token": mfa_token, "method": "totp", "code": totp_code(secret, clock, 1)},
            headers={"DPoP": proof},
        )
        assert (r.status_code, r.json()["error"]) == (400, "invalid_dpop_proof")
    assert dpop_refusals(dpop_server) == [
        {"reason": "replayed", "ip": "127.0.0.1", "method": "POST", "path": "/v1/sessions/mfa", "jkt": key.jkt}
    ]
    assert_no_secret(dpop_server, proof, mfa_token, secret)


def test_a_replayed_or_misdirected_proof_at_refresh_is_audited(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        first = dpop_login(dpop_server, c, key).json()
        proof = proof_for(dpop_server, key, "POST", "/v1/sessions/refresh")
        body = {"refresh_token": first["refresh_token"]}
        second = c.post("/v1/sessions/refresh", json=body, headers={"DPoP": proof})
        assert second.status_code == 200, second.text
        again = {"refresh_token": second.json()["refresh_token"]}
        assert c.post("/v1/sessions/refresh", json=again, headers={"DPoP": proof}).status_code == 400
        wrong_url = proof_for(dpop_server, key, "POST", "/v1/sessions")  # a sign-in proof brought to refresh
        assert c.post("/v1/sessions/refresh", json=again, headers={"DPoP": wrong_url}).status_code == 400
        # The refusals spent nothing: the session refreshes with a good proof.
        assert dpop_refresh(dpop_server, c, key, again["refresh_token"]).status_code == 200
    assert [(r["reason"], r["path"], r.get("jkt")) for r in dpop_refusals(dpop_server)] == [
        ("replayed", "/v1/sessions/refresh", key.jkt),
        ("bad_htu", "/v1/sessions/refresh", None),
    ]
    assert_no_secret(dpop_server, proof, first["refresh_token"], again["refresh_token"])


def test_a_replayed_proof_with_an_access_token_is_audited_once_as_the_same_event(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        token = dpop_login(dpop_server, c, key).json()["access_token"]
        headers = dpop_headers(dpop_server, key, token)
        assert c.get("/v1/me", headers=headers).status_code == 200
        assert c.get("/v1/me", headers=headers).status_code == 401
    assert dpop_refusals(dpop_server) == [
        {"reason": "replayed", "ip": "127.0.0.1", "method": "GET", "path": "/v1/me", "jkt": key.jkt}
    ]
    assert [r for r in records(dpop_server) if r.event == "token.rejected"] == []  # one record, not two
    assert_no_secret(dpop_server, headers["DPoP"], token)


def test_a_proof_with_a_bound_token_missing_is_audited(dpop_server: Server) -> None:
    key = DpopKey()
    with dpop_server.client() as c:
        token = dpop_login(dpop_server, c, key).json()["access_token"]
        r = c.get("/v1/me", headers={"Authorization": f"DPoP {token}"})
        assert r.status_code == 401
    assert [r["reason"] for r in dpop_refusals(dpop_server)] == ["missing"]
