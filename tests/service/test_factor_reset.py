"""An administrator resets a user's lost second factor, through the real HTTPS server and through the CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest

from sessionward.clock import FakeClock
from sessionward.core.assurance import LOA_MFA, LOA_PASSWORD
from sessionward.services.container import open_services
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, cli, login, me_status, refresh
from tests.service.soft_authenticator import SoftAuthenticator
from tests.service.test_mfa import challenge_of, enrol, mfa_login, mfa_step, next_step, password_step, totp_code


def reset(client: httpx2.Client, username: str, access_token: str | None) -> httpx2.Response:
    headers = bearer(access_token) if access_token is not None else {}
    return client.delete(f"/v1/admin/users/{username}/mfa", headers=headers)


def audit(server: Server) -> list[tuple[str, dict[str, Any], str]]:
    async def read() -> list[tuple[str, dict[str, Any], str]]:
        svc = await open_services(server.settings)
        try:
            return [(r.event, json.loads(r.data_json), r.data_json) async for r in svc.store.audit_records()]
        finally:
            await svc.close()

    return anyio.run(read)


def factors(client: httpx2.Client, access_token: str) -> dict[str, Any]:
    r = client.get("/v1/mfa", headers=bearer(access_token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def fresh_admin(server: Server, client: httpx2.Client, clock: FakeClock, name: str = "root") -> dict[str, Any]:
    """An admin with a TOTP factor and a session that has just checked it (acr loa:2)."""
    server.add_user(name, PASSWORD, admin=True)
    secret, _ = enrol(client, login(server, client, name)["access_token"], clock)
    session = mfa_login(server, client, secret, clock, user=name)
    assert session["acr"] == LOA_MFA
    return session


def wait_for_status(client: httpx2.Client, token: str, status: int, within: float = 1.0) -> None:
    """A revocation written by another process (the CLI) reaches the running server within a second."""
    deadline = time.monotonic() + within
    while me_status(client, token) != status:
        assert time.monotonic() < deadline, f"the token did not turn {status} within {within} s"
        time.sleep(0.02)


@pytest.fixture
def alice(server: Server) -> str:
    return server.add_user("alice", PASSWORD)


def test_an_admin_resets_a_lost_factor_and_the_old_factor_and_sessions_are_dead(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    # Alice has TOTP and recovery codes, and several sessions: two with the factor, one from before it.
    enrolling = login(server, client)
    secret, codes = enrol(client, enrolling["access_token"], clock)
    first = mfa_login(server, client, secret, clock)
    second = mfa_login(server, client, secret, clock)
    pending = password_step(server, client)  # a sign-in half done when the factor is reset
    pending_too = password_step(server, client)
    # Carol, another user with a factor, is not touched by Alice's reset.
    server.add_user("carol", PASSWORD)
    carol_secret, _ = enrol(client, login(server, client, "carol")["access_token"], clock)
    carol = mfa_login(server, client, carol_secret, clock, user="carol")

    root = fresh_admin(server, client, clock)
    r = reset(client, "alice", root["access_token"])
    assert r.status_code == 204, r.text
    assert r.content == b""

    # Every session and token of Alice is dead, at once.
    for s in (enrolling, first, second):
        assert me_status(client, s["access_token"]) == 401
        r = refresh(client, s["refresh_token"])
        assert (r.status_code, r.json()["error"]) == (401, "invalid_grant")
    # The admin's own session and Carol's (with her factor) are untouched.
    assert me_status(client, root["access_token"]) == 200
    assert me_status(client, carol["access_token"]) == 200
    password_step(server, client, user="carol")

    # The old authenticator app and the old recovery codes are worthless, even with a sign-in begun before.
    next_step(clock)
    r = mfa_step(client, pending, "totp", totp_code(secret, clock))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    r = mfa_step(client, pending_too, "recovery_code", codes[0])
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")

    # The password alone signs Alice in again, as a password-only session.
    r = server.login(client, "alice", PASSWORD)
    assert r.status_code == 201, r.text
    again = r.json()
    assert "mfa_required" not in r.text and "mfa_token" not in again
    assert (again["acr"], again["amr"]) == (LOA_PASSWORD, ["pwd"])
    assert client.get("/v1/me", headers=bearer(again["access_token"])).json()["acr"] == LOA_PASSWORD
    assert factors(client, again["access_token"]) == {
        "totp": False,
        "webauthn": [],
        "recovery_codes_left": 0,
        "methods": [],
    }
    # A step-up with the old code or an old recovery code has no factor to check against.
    for method, code in (("totp", totp_code(secret, clock)), ("recovery_code", codes[1])):
        r = client.post(
            "/v1/sessions/step-up", json={"method": method, "code": code}, headers=bearer(again["access_token"])
        )
        assert (r.status_code, r.json()["error"]) == (403, "mfa_enrollment_required")

    # And Alice enrols a new factor from there; the old secret is not it.
    new_secret, new_codes = enrol(client, again["access_token"], clock)
    assert new_secret != secret and not set(new_codes) & set(codes)
    assert mfa_login(server, client, new_secret, clock)["acr"] == LOA_MFA

    # The audit trail names who reset whose factors, and carries no secret.
    records = audit(server)
    resets = [data for event, data, _ in records if event == "mfa.reset"]
    root_id = client.get("/v1/me", headers=bearer(root["access_token"])).json()["sub"]
    assert resets == [{"user_id": alice, "by": f"admin:{root_id}"}]
    text = "\n".join(raw for _, _, raw in records)
    tokens = [root["access_token"], root["refresh_token"], pending, pending_too]
    for s in (enrolling, first, second):
        tokens += [s["access_token"], s["refresh_token"]]
    for secret_value in (secret, new_secret, *codes, *(c.replace("-", "") for c in codes), *tokens):
        assert secret_value not in text


def test_a_non_admin_is_refused_and_nothing_changes(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, codes = enrol(client, login(server, client)["access_token"], clock)
    session = mfa_login(server, client, secret, clock)
    # Bob is not an admin, even with a fresh second factor of his own; Alice cannot reset herself either.
    server.add_user("bob", PASSWORD)
    bob_secret, _ = enrol(client, login(server, client, "bob")["access_token"], clock)
    bob = mfa_login(server, client, bob_secret, clock, user="bob")
    for token, target in (
        (bob["access_token"], "alice"),
        (session["access_token"], "alice"),
        (bob["access_token"], "x"),
    ):
        r = reset(client, target, token)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")

    assert me_status(client, session["access_token"]) == 200
    assert me_status(client, bob["access_token"]) == 200
    assert factors(client, session["access_token"])["recovery_codes_left"] == len(codes)
    assert mfa_login(server, client, secret, clock)["acr"] == LOA_MFA
    assert "mfa.reset" not in {event for event, _, _ in audit(server)}


def test_an_admin_without_a_fresh_second_factor_gets_the_step_up_challenge_and_nothing_changes(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, _ = enrol(client, login(server, client)["access_token"], clock)
    session = mfa_login(server, client, secret, clock)

    server.add_user("root", PASSWORD, admin=True)
    enrolling = login(server, client, "root")
    root_secret, _ = enrol(client, enrolling["access_token"], clock)
    # A password-only session of an admin who has a factor.
    header = challenge_of(reset(client, "alice", enrolling["access_token"]))
    assert f'acr_values="{LOA_MFA}"' in header and 'max_age="300"' in header
    # A second factor checked longer ago than step_up_max_age (five minutes on the default policy).
    root = mfa_login(server, client, root_secret, clock, user="root")
    clock.advance(301)
    stale = refresh(client, root["refresh_token"]).json()
    header = challenge_of(reset(client, "alice", stale["access_token"]))
    assert 'max_age="300"' in header
    # Even for an unknown user: the challenge comes before any answer about the user.
    challenge_of(reset(client, "nobody", stale["access_token"]))

    r = refresh(client, session["refresh_token"])
    assert r.status_code == 200, r.text
    assert me_status(client, r.json()["access_token"]) == 200
    next_step(clock)
    assert mfa_login(server, client, secret, clock)["acr"] == LOA_MFA
    records = audit(server)
    assert "mfa.reset" not in {event for event, _, _ in records}
    demands = [data for event, data, _ in records if event == "step_up.required"]
    assert demands and {d["operation"] for d in demands} == {"admin.mfa_reset"}

    # Stepped up, the same admin resets.
    r = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(root_secret, clock)},
        headers=bearer(stale["access_token"]),
    )
    assert r.status_code == 200, r.text
    assert reset(client, "alice", r.json()["access_token"]).status_code == 204
    assert login(server, client)["acr"] == LOA_PASSWORD


def test_unknown_user_is_404_and_no_token_is_401(server: Server, client: httpx2.Client, clock: FakeClock) -> None:
    root = fresh_admin(server, client, clock)
    r = reset(client, "nobody", root["access_token"])
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    for token in (None, "not-a-token", root["access_token"][:-4] + "AAAA"):
        r = reset(client, "root", token)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert me_status(client, root["access_token"]) == 200
    assert "mfa.reset" not in {event for event, _, _ in audit(server)}


def test_an_admin_resetting_their_own_factors_ends_their_own_session(
    server: Server, client: httpx2.Client, clock: FakeClock
) -> None:
    root = fresh_admin(server, client, clock)
    assert reset(client, "root", root["access_token"]).status_code == 204
    assert me_status(client, root["access_token"]) == 401
    again = login(server, client, "root")
    assert again["acr"] == LOA_PASSWORD
    # An admin without a factor on the default policy administers with the password alone, as before.
    server.add_user("alice", PASSWORD)
    assert reset(client, "alice", again["access_token"]).status_code == 204


# -- the CLI --------------------------------------------------------------------------------------------------------


def test_the_cli_resets_a_factor_and_ends_the_sessions_at_the_running_server(
    make_server: Callable[..., Server],
) -> None:
    clock = FakeClock(time.time())
    server = make_server(clock=clock)
    alice = server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with server.client() as c:
        enrolling = login(server, c)
        secret, codes = enrol(c, enrolling["access_token"], clock)
        one, two = mfa_login(server, c, secret, clock), mfa_login(server, c, secret, clock)
        bob = login(server, c, "bob")

        done = cli(server.data_dir, "users", "reset-mfa", "alice")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "reset the second factors of alice: ended 3 sessions"
        assert "Traceback" not in done.stderr
        for secret_value in (secret, *codes, one["access_token"], one["refresh_token"]):
            assert secret_value not in done.stdout + done.stderr

        wait_for_status(c, enrolling["access_token"], 401)
        wait_for_status(c, one["access_token"], 401)
        wait_for_status(c, two["access_token"], 401)
        assert refresh(c, two["refresh_token"]).status_code == 401
        assert me_status(c, bob["access_token"]) == 200
        r = server.login(c, "alice", PASSWORD)
        assert r.status_code == 201, r.text
        assert r.json()["acr"] == LOA_PASSWORD
        assert factors(c, r.json()["access_token"])["methods"] == []

        # A second reset finds no factor left and still ends every session: here the one just made.
        done = cli(server.data_dir, "users", "reset-mfa", "alice")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "reset the second factors of alice: ended 1 session"

    resets = [data for event, data, _ in audit(server) if event == "mfa.reset"]
    assert resets == [{"user_id": alice, "by": "cli"}] * 2


def test_the_cli_refuses_an_unknown_user_clearly(make_server: Callable[..., Server]) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    done = cli(server.data_dir, "users", "reset-mfa", "ghost")
    assert done.returncode == 1
    assert "sessionward: no user 'ghost'" in done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert "mfa.reset" not in {event for event, _, _ in audit(server)}
    usage = cli(server.data_dir, "users", "reset-mfa")
    assert usage.returncode == 2


def test_a_reset_takes_the_security_keys_too(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    key = SoftAuthenticator(origin=f"https://localhost:{server.settings.server.port}")
    s = login(server, client)
    options = client.post("/v1/mfa/webauthn", headers=bearer(s["access_token"])).json()
    r = client.post(
        "/v1/mfa/webauthn/confirm", json={"credential": key.create(options)}, headers=bearer(s["access_token"])
    )
    assert r.status_code == 200, r.text
    r = server.login(client, "alice", PASSWORD)
    assert r.json()["methods"] == ["webauthn", "recovery_code"]
    pending = r.json()["mfa_token"]
    key_options = client.post("/v1/sessions/mfa/webauthn", json={"mfa_token": pending}).json()

    admin = fresh_admin(server, client, clock)
    assert reset(client, "alice", admin["access_token"]).status_code == 204
    # The key's answer to a challenge issued before the reset is refused: the challenge and the key are gone.
    r = client.post(
        "/v1/sessions/mfa", json={"mfa_token": pending, "method": "webauthn", "credential": key.get(key_options)}
    )
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    again = login(server, client)
    assert again["acr"] == LOA_PASSWORD
    assert factors(client, again["access_token"])["webauthn"] == []
