"""A stolen session must not bind the first second factor and lock the owner out.

For a user without a factor, enrolling TOTP or registering a security key needs a password check within the
policy's step_up_max_age (300 s here): the session's own sign-in, or `current_password` in the body of
POST /v1/mfa/totp or POST /v1/mfa/webauthn, counted in the sign-in throttle when wrong. Otherwise 401
insufficient_user_authentication with max_age (RFC 9470). The first factor keeps the user's other sessions and
the trail names the session that bound it; later factor changes still end them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from sessionward.clock import FakeClock
from sessionward.core.assurance import LOA_MFA
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, audit, bearer, login, me_status, refresh
from tests.service.soft_authenticator import SoftAuthenticator
from tests.service.test_mfa import challenge_of, enrol, next_step, totp_code
from tests.service.test_throttling import client_from
from tests.service.test_webauthn import register

STEP_UP_MAX_AGE = 300


@pytest.fixture
def alice(server: Server) -> str:
    return server.add_user("alice", PASSWORD)


def stolen(client: httpx2.Client, session: dict[str, Any], clock: FakeClock) -> str:
    """The session's access token once its sign-in is older than step_up_max_age: refreshed, as a thief would
    keep it (the refresh keeps the sign-in's auth_time)."""
    clock.advance(STEP_UP_MAX_AGE + 1)
    r = refresh(client, session["refresh_token"])
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def password_challenge(r: httpx2.Response) -> None:
    header = challenge_of(r)
    assert f'max_age="{STEP_UP_MAX_AGE}"' in header
    assert "acr_values" not in header  # a password check, not a second factor: the user has none
    assert "current_password" in r.json()["error_description"]


def test_a_stolen_token_older_than_step_up_max_age_cannot_enrol_a_first_factor(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    token = stolen(client, login(server, client), clock)
    password_challenge(client.post("/v1/mfa/totp", headers=bearer(token)))
    password_challenge(client.post("/v1/mfa/totp", json={}, headers=bearer(token)))
    password_challenge(client.post("/v1/mfa/webauthn", headers=bearer(token)))
    # Nothing was started: no secret awaits a confirmation, and no factor is on.
    r = client.post("/v1/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(token))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert client.get("/v1/mfa", headers=bearer(token)).json()["methods"] == []
    refused = [d for d in audit(server, "step_up.required") if d.get("need") == "password"]
    assert {d["operation"] for d in refused} == {"mfa.totp_replace", "mfa.webauthn_add"}
    # The owner still signs in with the password alone.
    assert login(server, client)["amr"] == ["pwd"]


def test_a_fresh_sign_in_enrols_with_no_body_as_spec_says(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    clock.advance(STEP_UP_MAX_AGE - 10)
    r = client.post("/v1/mfa/totp", headers=bearer(s["access_token"]))
    assert r.status_code == 200, r.text
    assert r.json()["secret"]


def test_the_current_password_lets_an_older_session_enrol_and_the_others_stay(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    other = login(server, client)
    token = stolen(client, s, clock)
    r = client.post("/v1/mfa/totp", json={"current_password": PASSWORD}, headers=bearer(token))
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    # The confirmation answers the secret only that step handed out: it needs no password of its own.
    r = client.post("/v1/mfa/totp/confirm", json={"code": totp_code(secret, clock)}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert len(r.json()["recovery_codes"]) == 10
    next_step(clock)
    # The owner's other session is not ended: the owner is notified, not locked out.
    other_token = refresh(client, other["refresh_token"]).json()["access_token"]
    assert me_status(client, other_token) == 200
    added = audit(server, "mfa.first_factor_added")
    created = audit(server, "session.created")
    assert added == [{"user_id": alice, "method": "totp", "sid": created[0]["sid"]}]
    assert created[0]["sid"] != created[1]["sid"]


def test_a_wrong_current_password_is_refused_and_counted_in_the_sign_in_throttle(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "3"}, clock=clock)
    server.add_user("alice", PASSWORD)
    with client_from(server, "127.0.0.2") as thief, client_from(server, "127.0.0.3") as owner:
        token = stolen(thief, login(server, thief), clock)
        guess = {"current_password": "guess"}
        answers = [thief.post("/v1/mfa/totp", json=guess, headers=bearer(token)) for _ in range(2)]
        answers.append(thief.post("/v1/mfa/webauthn", json=guess, headers=bearer(token)))
        assert [(r.status_code, r.json()["error"]) for r in answers] == [(403, "invalid_current_password")] * 3
        # The windows are full: even the right password waits, here and at the sign-in from this address.
        blocked = thief.post("/v1/mfa/totp", json={"current_password": PASSWORD}, headers=bearer(token))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert server.login(thief, "alice", PASSWORD).status_code == 429
        assert server.login(owner, "alice", PASSWORD).status_code == 201
    refused = audit(server, "mfa.enrolment_refused")
    assert [d["reason"] for d in refused] == ["wrong_current_password"] * 3 + ["throttled"]
    assert all("guess" not in json.dumps(d) for d in refused)


def test_a_security_key_as_first_factor_needs_the_password_then_keeps_the_others(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    key = SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")
    s = login(server, client)
    other = login(server, client)
    token = stolen(client, s, clock)
    r = client.post("/v1/mfa/webauthn", json={"current_password": PASSWORD}, headers=bearer(token))
    assert r.status_code == 200, r.text
    r = client.post("/v1/mfa/webauthn/confirm", json={"credential": key.create(r.json())}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert len(r.json()["recovery_codes"]) == 10
    other_token = refresh(client, other["refresh_token"]).json()["access_token"]
    assert me_status(client, other_token) == 200
    assert [d["method"] for d in audit(server, "mfa.first_factor_added")] == ["webauthn"]


def test_a_later_factor_still_needs_a_second_factor_and_ends_the_other_sessions(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    secret, _codes = enrol(client, s["access_token"], clock)
    # With a factor, the password is not enough to add another: a second factor checked recently is.
    r = client.post("/v1/mfa/webauthn", json={"current_password": PASSWORD}, headers=bearer(s["access_token"]))
    assert f'acr_values="{LOA_MFA}"' in challenge_of(r)
    step = {"method": "totp", "code": totp_code(secret, clock)}
    up = client.post("/v1/sessions/step-up", json=step, headers=bearer(s["access_token"])).json()
    next_step(clock)
    mfa_token = server.login(client, "alice", PASSWORD).json()["mfa_token"]
    r = client.post("/v1/sessions/mfa", json={"mfa_token": mfa_token, **step, "code": totp_code(secret, clock)})
    assert r.status_code == 201, r.text
    another = r.json()
    register(client, up["access_token"], SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}"))
    assert me_status(client, another["access_token"]) == 401  # a factor change ends the other sessions
    assert me_status(client, up["access_token"]) == 200
    assert len(audit(server, "mfa.first_factor_added")) == 1
