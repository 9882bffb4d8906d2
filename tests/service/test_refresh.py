"""Refresh through the real server: rotation, the grace rule, reuse ending only its session, timeouts."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx2

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, SHORT_POLICY, bearer, login, me_status, refresh


def short_server(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=SHORT_POLICY, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


def test_refresh_rotates_and_the_new_pair_works(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        first = login(server, c)
        clock.advance(30)
        r = refresh(c, first["refresh_token"])
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        second = r.json()
        assert second["session_id"] == first["session_id"]
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert me_status(c, second["access_token"]) == 200


def test_the_just_rotated_token_within_grace_gets_the_same_successor(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        first = login(server, c)
        second = refresh(c, first["refresh_token"]).json()
        clock.advance(10)  # the grace is inclusive
        again = refresh(c, first["refresh_token"])
        assert again.status_code == 200
        assert again.json()["refresh_token"] == second["refresh_token"]
        assert again.json()["access_token"] == second["access_token"]
        # The successor still rotates normally afterwards.
        assert refresh(c, second["refresh_token"]).status_code == 200


def test_two_tabs_refreshing_at_once_both_get_the_same_pair(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        first = login(server, c)
    results: list[httpx2.Response] = []
    barrier = threading.Barrier(4)

    def tab() -> None:
        with server.client() as own:
            barrier.wait()
            results.append(refresh(own, first["refresh_token"]))

    threads = [threading.Thread(target=tab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 4
    assert len({r.json()["refresh_token"] for r in results}) == 1


def test_reuse_after_grace_ends_that_session_and_no_other(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        victim = login(server, c)
        other = login(server, c)
        rotated = refresh(c, victim["refresh_token"]).json()
        clock.advance(11)
        stolen = refresh(c, victim["refresh_token"])
        assert stolen.status_code == 401
        assert stolen.json()["error"] == "invalid_grant"
        # The whole session ended: its newest tokens die too, from the next request on.
        assert refresh(c, rotated["refresh_token"]).status_code == 401
        assert me_status(c, rotated["access_token"]) == 401
        # The user's other session is untouched.
        assert me_status(c, other["access_token"]) == 200
        # The user's other session is untouched (its access token has simply expired by now).
        assert refresh(c, other["refresh_token"]).status_code == 200


def test_idle_session_is_dead(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        s = login(server, c)
        clock.advance(120)
        r = refresh(c, s["refresh_token"])
        assert r.status_code == 401 and r.json()["error"] == "invalid_grant"
        assert me_status(c, s["access_token"]) == 401


def test_refresh_extends_idle_but_never_past_absolute(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = short_server(make_server, clock)
    with server.client() as c:
        s = login(server, c)
        start = clock.now()
        token = s["refresh_token"]
        while clock.now() - start + 50 < 300:
            clock.advance(50)  # well within the 120 s idle timeout
            r = refresh(c, token)
            assert r.status_code == 200, (clock.now() - start, r.text)
            body = r.json()
            token = body["refresh_token"]
            # The access token never outlives the absolute limit, nor does the refresh token.
            assert clock.now() + body["expires_in"] <= start + 300 + 1
            assert clock.now() + body["refresh_expires_in"] <= start + 300 + 1
        clock.advance(300 - (clock.now() - start))
        assert refresh(c, token).status_code == 401
        assert me_status(c, body["access_token"]) == 401


def test_unknown_and_malformed_refresh_tokens(server: Server, client: httpx2.Client) -> None:
    for body in ({"refresh_token": "nope"}, {"refresh_token": ""}, {"refresh_token": 5}, {}):
        r = client.post("/v1/sessions/refresh", json=body)
        assert r.status_code in (400, 401)
        assert r.json()["error"] in ("invalid_grant", "invalid_request")
    access = "x" * 40
    assert client.post("/v1/sessions/refresh", json={"refresh_token": access}).status_code == 401


def test_an_access_token_is_not_a_refresh_token(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    s = login(server, client)
    assert refresh(client, s["access_token"]).status_code == 401
    assert client.get("/v1/me", headers=bearer(s["refresh_token"])).status_code == 401


def test_a_token_several_generations_old_is_reuse_too(make_server: Callable[..., Server], clock: FakeClock) -> None:
    """Tokens past their grace are forgotten; they are still recognised as this session's by their family."""
    server = short_server(make_server, clock)
    with server.client() as c:
        first = login(server, c)
        other = login(server, c)
        token = first["refresh_token"]
        for _ in range(4):
            clock.advance(20)
            latest = refresh(c, token).json()
            token = latest["refresh_token"]
        stolen = refresh(c, first["refresh_token"])
        assert stolen.status_code == 401
        assert refresh(c, token).status_code == 401
        assert me_status(c, latest["access_token"]) == 401
        # A made-up token that borrows the family prefix of nothing known is just unknown.
        assert refresh(c, "A" * 16 + "." + "B" * 43).status_code == 401
        # The user's other session is untouched (its access token has simply expired by now).
        assert refresh(c, other["refresh_token"]).status_code == 200
