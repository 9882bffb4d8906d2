"""Concurrency limits and "sign out everywhere else" through the real server."""

from __future__ import annotations

from collections.abc import Callable

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, login, me_status, refresh
from tests.service.test_throttling import client_from

LIMIT_3 = {"SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER": "3"}


def test_reject_mode_refuses_the_session_over_the_limit(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env=LIMIT_3, clock=clock)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        sessions = [login(server, c) for _ in range(3)]
        r = server.login(c, "alice", PASSWORD)
        assert r.status_code == 409
        assert r.json()["error"] == "session_limit"
        # Nothing was taken from the sessions already running.
        assert all(me_status(c, s["access_token"]) == 200 for s in sessions)
        # Ending one makes room.
        assert (
            c.delete(
                "/v1/sessions/current", headers={"Authorization": f"Bearer {sessions[0]['access_token']}"}
            ).status_code
            == 204
        )
        assert server.login(c, "alice", PASSWORD).status_code == 201


def test_timed_out_sessions_do_not_count(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(env=LIMIT_3, clock=clock)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        for _ in range(3):
            login(server, c)
        clock.advance(30 * 60)  # the default idle timeout
        assert server.login(c, "alice", PASSWORD).status_code == 201


def test_evict_oldest_ends_the_oldest_session(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(
        env={**LIMIT_3, "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest"}, clock=clock
    )
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        sessions = []
        for _ in range(3):
            sessions.append(login(server, c))
            clock.advance(1)
        newest = login(server, c)
        assert me_status(c, sessions[0]["access_token"]) == 401
        assert refresh(c, sessions[0]["refresh_token"]).status_code == 401
        for s in (*sessions[1:], newest):
            assert me_status(c, s["access_token"]) == 200


def test_ip_limit_never_evicts_another_users_session(make_server: Callable[..., Server], clock: FakeClock) -> None:
    env = {
        "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_IP": "2",
        "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",
    }
    server = make_server(env=env, clock=clock)
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with client_from(server, "127.0.0.7") as c:
        alice = login(server, c, "alice")
        bob = login(server, c, "bob")
        r = server.login(c, "bob", PASSWORD)  # bob may evict his own session, so this is admitted
        assert r.status_code == 201
        assert me_status(c, alice["access_token"]) == 200
        assert me_status(c, bob["access_token"]) == 401
    with client_from(server, "127.0.0.8") as other_address:
        assert server.login(other_address, "alice", PASSWORD).status_code == 201


def test_ip_limit_rejects_when_only_other_peoples_sessions_fill_it(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    env = {
        "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_IP": "1",
        "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",
    }
    server = make_server(env=env, clock=clock)
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with client_from(server, "127.0.0.9") as c:
        alice = login(server, c, "alice")
        r = server.login(c, "bob", PASSWORD)
        assert r.status_code == 409 and r.json()["error"] == "session_limit"
        assert me_status(c, alice["access_token"]) == 200


def test_revoke_other_sessions_at_login(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(clock=clock)
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with server.client() as c:
        old = [login(server, c) for _ in range(3)]
        bobs = login(server, c, "bob")
        fresh = login(server, c, revoke_other_sessions=True)
        for s in old:
            assert me_status(c, s["access_token"]) == 401
            assert refresh(c, s["refresh_token"]).status_code == 401
        assert me_status(c, fresh["access_token"]) == 200
        assert me_status(c, bobs["access_token"]) == 200
