"""Second factors through the real server: TOTP enrolment, MFA at sign-in, replays, throttling and step-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pyotp
import pytest

from sessionward.clock import FakeClock
from sessionward.core.assurance import LOA_MFA, LOA_PASSWORD
from sessionward.services.container import open_services
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login, me_status, refresh

STEP = 30


def totp_code(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + steps * STEP)


def next_step(clock: FakeClock) -> None:
    """Moves the clock to the start of the next TOTP step (a new code)."""
    clock.set((int(clock.now()) // STEP + 1) * STEP + 0.5)


def enrol(client: httpx2.Client, access_token: str, clock: FakeClock) -> tuple[str, list[str]]:
    r = client.post("/v1/mfa/totp", headers=bearer(access_token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/sessionward:")
    assert r.headers["cache-control"] == "no-store"
    secret: str = body["secret"]
    r = client.post("/v1/mfa/totp/confirm", json={"code": totp_code(secret, clock)}, headers=bearer(access_token))
    assert r.status_code == 200, r.text
    codes: list[str] = r.json()["recovery_codes"]
    next_step(clock)  # the confirming code is used: later checks need the next one
    return secret, codes


def mfa_step(client: httpx2.Client, mfa_token: str, method: str, code: str, **extra: Any) -> httpx2.Response:
    return client.post("/v1/sessions/mfa", json={"mfa_token": mfa_token, "method": method, "code": code, **extra})


def password_step(server: Server, client: httpx2.Client, user: str = "alice", **extra: Any) -> str:
    r = server.login(client, user, PASSWORD, **extra)
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "mfa_required"
    assert body["methods"] == ["totp", "recovery_code"]
    assert r.headers["cache-control"] == "no-store"
    token: str = body["mfa_token"]
    return token


def mfa_login(server: Server, client: httpx2.Client, secret: str, clock: FakeClock, **extra: Any) -> dict[str, Any]:
    token = password_step(server, client, **extra)
    r = mfa_step(client, token, "totp", totp_code(secret, clock))
    assert r.status_code == 201, r.text
    next_step(clock)
    body: dict[str, Any] = r.json()
    return body


def challenge_of(r: httpx2.Response) -> str:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "insufficient_user_authentication"
    header: str = r.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_user_authentication"')
    return header


@pytest.fixture
def alice(server: Server) -> str:
    return server.add_user("alice", PASSWORD)


def test_enrolment_then_sign_in_needs_the_second_factor(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    first = login(server, client)
    other = login(server, client)
    assert first["acr"] == LOA_PASSWORD and first["amr"] == ["pwd"]
    secret, codes = enrol(client, first["access_token"], clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    # The first factor keeps the user's other sessions (the trail names the session that bound it: see
    # test_first_factor.py); a later factor change ends them.
    assert me_status(client, other["access_token"]) == 200
    assert me_status(client, first["access_token"]) == 200

    session = mfa_login(server, client, secret, clock)
    assert session["acr"] == LOA_MFA and session["amr"] == ["pwd", "otp", "mfa"]
    me = client.get("/v1/me", headers=bearer(session["access_token"])).json()
    assert (me["acr"], me["amr"]) == (LOA_MFA, ["pwd", "otp", "mfa"])
    listed = client.get("/v1/sessions", headers=bearer(session["access_token"])).json()["sessions"]
    assert {s["acr"] for s in listed if s["current"]} == {LOA_MFA}

    # A recovery code works as the second step, in any case and with or without its dash.
    token = password_step(server, client)
    r = mfa_step(client, token, "recovery_code", codes[0].lower().replace("-", ""))
    assert r.status_code == 201, r.text


def test_a_wrong_code_is_invalid_mfa_and_a_wrong_confirmation_enrols_nothing(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    r = client.post("/v1/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(s["access_token"]))
    assert r.status_code == 400  # nothing to confirm
    secret = client.post("/v1/mfa/totp", headers=bearer(s["access_token"])).json()["secret"]
    wrong = str((int(totp_code(secret, clock)) + 1) % 1_000_000).zfill(6)
    r = client.post("/v1/mfa/totp/confirm", json={"code": wrong}, headers=bearer(s["access_token"]))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    login(server, client)  # still password-only: the factor is not on
    secret, _codes = enrol(client, s["access_token"], clock)
    token = password_step(server, client)
    for bad in (wrong, "abcdef", "1234567", ""):
        r = mfa_step(client, token, "totp", bad)
        assert r.status_code in (400, 401), r.text
    r = mfa_step(client, token, "sms", "123456")
    assert r.status_code == 400


def test_codes_of_one_step_either_side_are_accepted_two_steps_are_not(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, _ = enrol(client, login(server, client)["access_token"], clock)
    for offset in (-1, 1):
        next_step(clock)
        next_step(clock)
        token = password_step(server, client)
        assert mfa_step(client, token, "totp", totp_code(secret, clock, offset)).status_code == 201
    for offset in (-2, 2):
        next_step(clock)
        next_step(clock)
        next_step(clock)
        token = password_step(server, client)
        r = mfa_step(client, token, "totp", totp_code(secret, clock, offset))
        assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_replays_are_blocked(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret, codes = enrol(client, login(server, client)["access_token"], clock)
    blocked, cases = 0, 0

    # 1. A TOTP code used twice (two sign-ins, each with its own mfa_token, the same code).
    code = totp_code(secret, clock)
    assert mfa_step(client, password_step(server, client), "totp", code).status_code == 201
    cases += 1
    r = mfa_step(client, password_step(server, client), "totp", code)
    blocked += (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    next_step(clock)

    # 2. A recovery code used twice.
    assert mfa_step(client, password_step(server, client), "recovery_code", codes[3]).status_code == 201
    cases += 1
    r = mfa_step(client, password_step(server, client), "recovery_code", codes[3])
    blocked += (r.status_code, r.json()["error"]) == (401, "invalid_mfa")

    # 3. An mfa_token used twice (with a fresh, valid code the second time).
    token = password_step(server, client)
    assert mfa_step(client, token, "totp", totp_code(secret, clock)).status_code == 201
    next_step(clock)
    cases += 1
    r = mfa_step(client, token, "totp", totp_code(secret, clock))
    blocked += (r.status_code, r.json()["error"]) == (401, "invalid_mfa")

    with capsys.disabled():
        print(f"\nreplays blocked: {blocked} of {cases}")
    assert blocked == cases == 3


def test_an_mfa_token_expires_and_dies_with_a_password_change(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, _ = enrol(client, login(server, client)["access_token"], clock)
    token = password_step(server, client)
    clock.advance(301)
    r = mfa_step(client, token, "totp", totp_code(secret, clock))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    next_step(clock)
    r = mfa_step(client, "made-up-token", "totp", totp_code(secret, clock))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")


def test_wrong_codes_burn_the_mfa_token_and_the_account_window_throttles(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, _ = enrol(client, login(server, client)["access_token"], clock)
    wrong = str((int(totp_code(secret, clock)) + 500_000) % 1_000_000).zfill(6)
    token = password_step(server, client)
    for _ in range(5):
        assert mfa_step(client, token, "totp", wrong).status_code == 401
    # Five wrong codes burned this mfa_token: even the right code is refused now.
    r = mfa_step(client, token, "totp", totp_code(secret, clock))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    token = password_step(server, client)
    for _ in range(5):
        assert mfa_step(client, token, "recovery_code", "AAAAA-AAAAA").status_code == 401
    # Ten failures within the window: the account's second factor is throttled, the right code included.
    token = password_step(server, client)
    r = mfa_step(client, token, "totp", totp_code(secret, clock))
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    clock.advance(15 * 60 + 1)
    token = password_step(server, client)
    assert mfa_step(client, token, "totp", totp_code(secret, clock)).status_code == 201


def test_a_strict_policy_without_a_factor_is_refused_with_a_reason(
    server: Server, client: httpx2.Client, alice: str
) -> None:
    r = server.login(client, "alice", PASSWORD, client_id="admin-console")
    assert (r.status_code, r.json()["error"]) == (403, "mfa_enrollment_required")
    r = server.login(client, "alice", PASSWORD, client_id="payments")
    assert (r.status_code, r.json()["error"]) == (403, "mfa_enrollment_required")


def test_step_up_raises_the_session_and_falls_back_after_step_up_max_age(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    """A password-only session of a user who then enrolled: removing the factor needs a fresh second factor."""
    s = login(server, client)
    secret, _ = enrol(client, s["access_token"], clock)
    header = challenge_of(client.delete("/v1/mfa/totp", headers=bearer(s["access_token"])))
    assert f'acr_values="{LOA_MFA}"' in header and 'max_age="300"' in header

    r = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(s["access_token"]),
    )
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["session_id"] == s["session_id"]
    assert (up["acr"], up["amr"]) == (LOA_MFA, ["pwd", "otp", "mfa"])
    assert client.get("/v1/me", headers=bearer(up["access_token"])).json()["acr"] == LOA_MFA
    # The refresh token rotated: the new one refreshes into still-raised tokens within the window.
    clock.advance(100)
    r = refresh(client, up["refresh_token"])
    assert r.status_code == 200 and r.json()["acr"] == LOA_MFA
    raised = r.json()

    # Past step_up_max_age (5 minutes for the default policy) the session falls back to loa:1.
    clock.advance(201)
    header = challenge_of(client.delete("/v1/mfa/totp", headers=bearer(raised["access_token"])))
    assert 'max_age="300"' in header
    r = refresh(client, raised["refresh_token"])
    assert r.status_code == 200 and r.json()["acr"] == LOA_PASSWORD and r.json()["amr"] == ["pwd"]
    fallen = r.json()
    challenge_of(client.delete("/v1/mfa/totp", headers=bearer(fallen["access_token"])))

    next_step(clock)
    r = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(fallen["access_token"]),
    )
    assert r.status_code == 200
    assert client.delete("/v1/mfa/totp", headers=bearer(r.json()["access_token"])).status_code == 204
    # The factor is gone: a password alone signs in again.
    assert login(server, client)["acr"] == LOA_PASSWORD


def test_admin_operations_under_the_admin_policy_need_a_fresh_factor(
    server: Server, client: httpx2.Client, clock: FakeClock
) -> None:
    server.add_user("root", PASSWORD, admin=True)
    secret, _ = enrol(client, login(server, client, "root")["access_token"], clock)
    s = mfa_login(server, client, secret, clock, user="root", client_id="admin-console")
    assert s["acr"] == LOA_MFA
    new_user = {"username": "dave", "password": PASSWORD}
    r = client.post("/v1/admin/users", json=new_user, headers=bearer(s["access_token"]))
    assert r.status_code == 201, r.text

    # Six minutes on (the admin policy's step_up_max_age is five), still active by refreshing.
    clock.advance(110)
    s = refresh(client, s["refresh_token"]).json()
    clock.advance(110)
    s = refresh(client, s["refresh_token"]).json()
    clock.advance(110)
    s = refresh(client, s["refresh_token"]).json()
    header = challenge_of(
        client.post("/v1/admin/users", json={**new_user, "username": "erin"}, headers=bearer(s["access_token"]))
    )
    assert f'acr_values="{LOA_MFA}"' in header and 'max_age="300"' in header
    challenge_of(client.delete("/v1/admin/users/dave/sessions", headers=bearer(s["access_token"])))

    next_step(clock)
    r = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(s["access_token"]),
    )
    assert r.status_code == 200, r.text
    up = r.json()
    r = client.post("/v1/admin/users", json={**new_user, "username": "erin"}, headers=bearer(up["access_token"]))
    assert r.status_code == 201, r.text
    assert client.delete("/v1/admin/users/dave/sessions", headers=bearer(up["access_token"])).status_code == 204

    # And refused again once step_up_max_age has passed since the step-up.
    clock.advance(110)
    up = refresh(client, up["refresh_token"]).json()
    clock.advance(110)
    up = refresh(client, up["refresh_token"]).json()
    clock.advance(90)
    up = refresh(client, up["refresh_token"]).json()
    challenge_of(
        client.post("/v1/admin/users", json={**new_user, "username": "fay"}, headers=bearer(up["access_token"]))
    )


def test_password_change_needs_a_fresh_factor_once_the_user_has_one(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    secret, _ = enrol(client, s["access_token"], clock)
    change = {"current_password": PASSWORD, "new_password": "another long passphrase"}
    challenge_of(client.post("/v1/password", json=change, headers=bearer(s["access_token"])))
    m = mfa_login(server, client, secret, clock)
    r = client.post("/v1/password", json=change, headers=bearer(m["access_token"]))
    assert r.status_code == 200, r.text


def test_the_audit_trail_records_factor_events_without_secrets(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    secret, codes = enrol(client, login(server, client)["access_token"], clock)
    token = password_step(server, client)
    wrong = str((int(totp_code(secret, clock)) + 1) % 1_000_000).zfill(6)
    mfa_step(client, token, "totp", wrong)
    mfa_step(client, token, "recovery_code", codes[1])

    async def read() -> list[tuple[str, str]]:
        svc = await open_services(server.settings)
        try:
            return [(r.event, r.data_json) async for r in svc.store.audit_records()]
        finally:
            await svc.close()

    records = anyio.run(read)
    events = {event for event, _ in records}
    assert {
        "mfa.totp_enrolled",
        "mfa.totp_confirmed",
        "mfa.recovery_codes_issued",
        "login.mfa_required",
        "mfa.failed",
        "mfa.succeeded",
        "mfa.recovery_code_used",
    } <= events
    text = "\n".join(data for _, data in records)
    for secret_value in (secret, token, wrong, *codes, *(c.replace("-", "") for c in codes)):
        assert secret_value not in text


def test_the_second_step_can_answer_in_cookie_transport(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str, tmp_path: Path
) -> None:
    secret, _ = enrol(client, login(server, client)["access_token"], clock)
    token = password_step(server, client)
    r = mfa_step(client, token, "totp", totp_code(secret, clock), transport="cookie")
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"session_id", "csrf_token", "expires_in", "acr", "amr"}
    assert r.json()["acr"] == LOA_MFA


def test_new_recovery_codes_need_a_fresh_factor_and_void_the_old_ones(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    s = login(server, client)
    r = client.post("/v1/mfa/recovery-codes", headers=bearer(s["access_token"]))
    assert (r.status_code, r.json()["error"]) == (403, "mfa_enrollment_required")  # nothing to stand in for
    secret, old = enrol(client, s["access_token"], clock)
    challenge_of(client.post("/v1/mfa/recovery-codes", headers=bearer(s["access_token"])))
    up = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(s["access_token"]),
    ).json()
    next_step(clock)
    other = mfa_login(server, client, secret, clock)
    r = client.post("/v1/mfa/recovery-codes", headers=bearer(up["access_token"]))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert me_status(client, other["access_token"]) == 401  # a factor change ends the other sessions
    assert me_status(client, up["access_token"]) == 200
    new = r.json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    r = mfa_step(client, password_step(server, client), "recovery_code", old[1])
    assert (r.status_code, r.json()["error"]) == (401, "invalid_mfa")
    assert mfa_step(client, password_step(server, client), "recovery_code", new[0]).status_code == 201


def test_a_retried_refresh_says_the_same_assurance_as_the_token_it_returns(
    server: Server, client: httpx2.Client, clock: FakeClock, alice: str
) -> None:
    """Within the grace a retry gets the same successor pair; its body must not claim less than the token does."""
    s = login(server, client)
    secret, _ = enrol(client, s["access_token"], clock)
    up = client.post(
        "/v1/sessions/step-up",
        json={"method": "totp", "code": totp_code(secret, clock)},
        headers=bearer(s["access_token"]),
    ).json()
    first = refresh(client, up["refresh_token"])
    again = refresh(client, up["refresh_token"])  # the response was lost: the same request again
    assert first.status_code == again.status_code == 200
    assert again.json()["access_token"] == first.json()["access_token"]
    assert (again.json()["acr"], again.json()["amr"]) == (first.json()["acr"], first.json()["amr"])
    assert again.json()["acr"] == LOA_MFA
