"""Login throttling through the real server: moving windows, Retry-After, and no lock-out of the owner."""

from __future__ import annotations

from collections.abc import Callable

import httpx2

from sessionward.clock import FakeClock
from tests.service.conftest import Server

PASSWORD = "correct horse battery staple"


def client_from(server: Server, source_ip: str) -> httpx2.Client:
    transport = httpx2.HTTPTransport(verify=server.ssl_context(), local_address=source_ip)
    return httpx2.Client(base_url=server.base_url, transport=transport, timeout=10.0)


def test_failures_from_one_address_throttle_that_address_only(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "3"}, clock=clock)
    server.add_user("alice", PASSWORD)
    with client_from(server, "127.0.0.2") as attacker, client_from(server, "127.0.0.3") as owner:
        for _ in range(3):
            assert server.login(attacker, "alice", "guess").status_code == 401
        blocked = server.login(attacker, "alice", "guess")
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "too_many_attempts"
        assert 1 <= int(blocked.headers["retry-after"]) <= 900
        # Even the right password gets no answer from a throttled address: no oracle for the attacker.
        assert server.login(attacker, "alice", PASSWORD).status_code == 429
        # The owner, elsewhere, is not locked out.
        assert server.login(owner, "alice", PASSWORD).status_code == 201
        # The window slides: after Retry-After the attacker's address may try again.
        clock.advance(int(blocked.headers["retry-after"]))
        assert server.login(attacker, "alice", "guess").status_code == 401


def test_account_wide_cap_counts_failures_from_every_address(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    env = {
        "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT": "4",
        "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "2",
        "SESSIONWARD_LOGIN__FAILURE_WINDOW": "60s",
    }
    server = make_server(env=env, clock=clock)
    server.add_user("alice", PASSWORD)
    for ip in ("127.0.0.2", "127.0.0.3"):
        with client_from(server, ip) as c:
            for _ in range(2):
                assert server.login(c, "alice", "guess").status_code == 401
    with client_from(server, "127.0.0.4") as c:
        r = server.login(c, "alice", PASSWORD)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
        clock.advance(61)
        assert server.login(c, "alice", PASSWORD).status_code == 201


def test_a_success_resets_consecutive_failures(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "3"}, clock=clock)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        for _ in range(2):
            assert server.login(c, "alice", "typo").status_code == 401
        assert server.login(c, "alice", PASSWORD).status_code == 201
        for _ in range(2):
            assert server.login(c, "alice", "typo").status_code == 401
        assert server.login(c, "alice", PASSWORD).status_code == 201


def test_unknown_users_are_throttled_like_known_ones(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "2"}, clock=clock)
    with server.client() as c:
        assert [server.login(c, "ghost", "x").status_code for _ in range(3)] == [401, 401, 429]


def test_per_address_attempt_cap_stops_password_spraying(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "5"}, clock=clock)
    with client_from(server, "127.0.0.5") as c:
        codes = [server.login(c, f"user{i}", "Winter2026!").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]


def test_a_stolen_session_guesses_the_password_no_faster_than_a_login(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    """POST /v1/password checks the current password: its wrong guesses count in the login windows."""
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "3"}, clock=clock)
    server.add_user("alice", PASSWORD)
    with client_from(server, "127.0.0.2") as thief, client_from(server, "127.0.0.3") as owner:
        token = server.login(thief, "alice", PASSWORD).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        guess = {"current_password": "guess", "new_password": "a new long password"}
        statuses = [thief.post("/v1/password", json=guess, headers=auth).status_code for _ in range(4)]
        assert statuses == [403, 403, 403, 429]
        right = {"current_password": PASSWORD, "new_password": "a new long password"}
        blocked = thief.post("/v1/password", json=right, headers=auth)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        # The same windows as the sign-in: this address cannot log in with guesses either, the owner can.
        assert server.login(thief, "alice", "guess").status_code == 429
        assert server.login(owner, "alice", PASSWORD).status_code == 201
