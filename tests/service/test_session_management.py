"""Listing and ending sessions, password change, admin actions, through the real server."""

from __future__ import annotations

from collections.abc import Callable

import httpx2

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login, me_status, refresh


def test_list_sessions_marks_the_current_one(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    a, b = login(server, client), login(server, client)
    r = client.get("/v1/sessions", headers=bearer(a["access_token"]))
    assert r.status_code == 200
    listed = {s["session_id"]: s for s in r.json()["sessions"]}
    assert set(listed) == {a["session_id"], b["session_id"]}
    assert listed[a["session_id"]]["current"] is True
    assert listed[b["session_id"]]["current"] is False
    for s in listed.values():
        assert set(s) == {
            "session_id",
            "created_at",
            "last_active_at",
            "expires_at",
            "ip",
            "user_agent",
            "current",
            "acr",
            "amr",
        }
        assert s["created_at"].endswith("Z") and s["ip"] == "127.0.0.1"


def test_logout_kills_the_session_at_once(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    s = login(server, client)
    assert client.delete("/v1/sessions/current", headers=bearer(s["access_token"])).status_code == 204
    assert me_status(client, s["access_token"]) == 401
    assert refresh(client, s["refresh_token"]).status_code == 401


def test_ending_another_users_session_is_not_found(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    server.add_user("mallory", PASSWORD)
    alice = login(server, client, "alice")
    mallory = login(server, client, "mallory")
    r = client.delete(f"/v1/sessions/{alice['session_id']}", headers=bearer(mallory["access_token"]))
    assert r.status_code == 404
    assert me_status(client, alice["access_token"]) == 200
    assert client.delete("/v1/sessions/unknown-id", headers=bearer(mallory["access_token"])).status_code == 404


def test_ending_one_of_my_sessions(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    a, b = login(server, client), login(server, client)
    assert client.delete(f"/v1/sessions/{b['session_id']}", headers=bearer(a["access_token"])).status_code == 204
    assert me_status(client, b["access_token"]) == 401
    assert me_status(client, a["access_token"]) == 200


def test_scope_others_and_all(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    a, b, c = (login(server, client) for _ in range(3))
    assert (
        client.delete("/v1/sessions", params={"scope": "others"}, headers=bearer(a["access_token"])).status_code == 204
    )
    assert [me_status(client, s["access_token"]) for s in (a, b, c)] == [200, 401, 401]
    assert client.delete("/v1/sessions", params={"scope": "all"}, headers=bearer(a["access_token"])).status_code == 204
    assert me_status(client, a["access_token"]) == 401
    bad = client.delete(
        "/v1/sessions", params={"scope": "everyone"}, headers=bearer(login(server, client)["access_token"])
    )
    assert bad.status_code == 400


def test_password_change_kills_every_earlier_token(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(clock=clock)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        laptop, phone = login(server, c), login(server, c)
        clock.advance(2)
        r = c.post(
            "/v1/password",
            json={"current_password": PASSWORD, "new_password": "a much better passphrase"},
            headers=bearer(laptop["access_token"]),
        )
        assert r.status_code == 200, r.text
        fresh = r.json()
        assert fresh["session_id"] not in (laptop["session_id"], phone["session_id"])
        for s in (laptop, phone):
            assert me_status(c, s["access_token"]) == 401
            assert refresh(c, s["refresh_token"]).status_code == 401
        assert me_status(c, fresh["access_token"]) == 200
        assert refresh(c, fresh["refresh_token"]).status_code == 200
        assert server.login(c, "alice", PASSWORD).status_code == 401
        assert server.login(c, "alice", "a much better passphrase").status_code == 201


def test_password_change_refuses_a_wrong_current_password(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    s = login(server, client)
    r = client.post(
        "/v1/password",
        json={"current_password": "guess", "new_password": "whatever long"},
        headers=bearer(s["access_token"]),
    )
    assert r.status_code == 403
    assert me_status(client, s["access_token"]) == 200
    short = client.post(
        "/v1/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=bearer(s["access_token"])
    )
    assert short.status_code == 400


def test_admin_endpoints_are_for_admins_only(server: Server, client: httpx2.Client) -> None:
    server.add_user("root", PASSWORD, admin=True)
    server.add_user("alice", PASSWORD)
    admin = login(server, client, "root")
    alice = login(server, client, "alice")
    body = {"username": "carol", "password": "carol's long password"}
    assert client.post("/v1/admin/users", json=body, headers=bearer(alice["access_token"])).status_code == 403
    created = client.post("/v1/admin/users", json=body, headers=bearer(admin["access_token"]))
    assert created.status_code == 201 and created.json()["username"] == "carol"
    assert client.post("/v1/admin/users", json=body, headers=bearer(admin["access_token"])).status_code == 409
    assert (
        client.post(
            "/v1/admin/users", json={"username": "../x", "password": "p" * 10}, headers=bearer(admin["access_token"])
        ).status_code
        == 400
    )
    assert server.login(client, "carol", "carol's long password").status_code == 201

    assert client.delete("/v1/admin/users/root/sessions", headers=bearer(alice["access_token"])).status_code == 403
    assert me_status(client, admin["access_token"]) == 200
    assert client.delete("/v1/admin/users/alice/sessions", headers=bearer(admin["access_token"])).status_code == 204
    assert me_status(client, alice["access_token"]) == 401
    assert client.delete("/v1/admin/users/nobody/sessions", headers=bearer(admin["access_token"])).status_code == 404
