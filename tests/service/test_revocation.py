"""Revocation from another process reaches the server within a second; RFC 7009 and RFC 7662 for clients."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx2

from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, cli, login, me_status, refresh

CLIENT = {
    "SESSIONWARD_CLIENTS__RS__CLIENT_SECRET": "rs-secret-value-1234",
    "SESSIONWARD_CLIENTS__APP__CLIENT_SECRET": "app-secret-5678",
    "SESSIONWARD_CLIENTS__RS__INTROSPECT_ANY": "true",  # a resource server: it introspects web's tokens
}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def wait_for_status(client: httpx2.Client, token: str, status: int, within: float = 1.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if me_status(client, token) == status:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"the token did not turn {status} within {within} s")


def test_cli_revoke_by_sid_reaches_the_running_server(make_server: Callable[..., Server]) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        s, other = login(server, c), login(server, c)
        done = cli(server.data_dir, "sessions", "revoke", "--sid", s["session_id"])
        assert done.returncode == 0, done.stderr
        wait_for_status(c, s["access_token"], 401)
        assert me_status(c, other["access_token"]) == 200
        listing = cli(server.data_dir, "sessions", "list", "--user", "alice")
        assert other["session_id"] in listing.stdout and s["session_id"] not in listing.stdout


def test_cli_revoke_by_user(make_server: Callable[..., Server]) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with server.client() as c:
        a1, a2, b = login(server, c, "alice"), login(server, c, "alice"), login(server, c, "bob")
        done = cli(server.data_dir, "sessions", "revoke", "--user", "alice")
        assert done.returncode == 0 and "ended 2 sessions" in done.stdout
        wait_for_status(c, a1["access_token"], 401)
        wait_for_status(c, a2["access_token"], 401)
        assert me_status(c, b["access_token"]) == 200
    assert cli(server.data_dir, "sessions", "revoke").returncode == 2
    assert cli(server.data_dir, "sessions", "revoke", "--user", "ghost").returncode == 1
    assert cli(server.data_dir, "sessions", "revoke", "--sid", "nope").returncode == 1


def test_introspection(make_server: Callable[..., Server]) -> None:
    server = make_server(env=CLIENT)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        s = login(server, c)
        path = "/v1/oauth/introspect"
        auth = basic("rs", "rs-secret-value-1234")
        active = c.post(path, data={"token": s["access_token"]}, headers=auth).json()
        assert active["active"] is True and active["sid"] == s["session_id"] and active["username"] == "alice"
        assert c.post(path, data={"token": s["refresh_token"]}, headers=auth).json()["active"] is True
        assert c.post(path, data={"token": "garbage"}, headers=auth).json() == {"active": False}
        assert c.post(path, data={"token": "a.b.c"}, headers=auth).json() == {"active": False}
        c.delete("/v1/sessions/current", headers={"Authorization": f"Bearer {s['access_token']}"})
        assert c.post(path, data={"token": s["access_token"]}, headers=auth).json() == {"active": False}
        assert c.post(path, data={"token": s["refresh_token"]}, headers=auth).json() == {"active": False}
        for bad in ({}, basic("rs", "wrong"), basic("web", ""), basic("nobody", "x"), {"Authorization": "Basic !!"}):
            r = c.post(path, data={"token": "x"}, headers=bad)
            assert r.status_code == 401 and r.json()["error"] == "invalid_client"
            assert r.headers["www-authenticate"].startswith("Basic")
        assert c.post(path, json={"token": "x"}, headers=auth).status_code == 415
        assert c.post(path, data={"token_type_hint": "access_token"}, headers=auth).status_code == 400
        assert c.post(path, data={"token": ["a", "b"]}, headers=auth).status_code == 400


def test_rfc7009_revocation(make_server: Callable[..., Server]) -> None:
    server = make_server(env=CLIENT)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        s = login(server, c, client_id="rs")
        path = "/v1/oauth/revoke"
        # Another client cannot revoke this client's token (and learns nothing: 200 all the same).
        assert (
            c.post(path, data={"token": s["refresh_token"]}, headers=basic("app", "app-secret-5678")).status_code == 200
        )
        assert me_status(c, s["access_token"]) == 200
        assert c.post(path, data={"token": "unknown"}, headers=basic("rs", "rs-secret-value-1234")).status_code == 200
        r = c.post(
            path,
            data={"token": s["refresh_token"], "token_type_hint": "refresh_token"},
            headers=basic("rs", "rs-secret-value-1234"),
        )
        assert r.status_code == 200
        assert me_status(c, s["access_token"]) == 401
        assert refresh(c, s["refresh_token"]).status_code == 401
        s2 = login(server, c, client_id="rs")
        assert (
            c.post(path, data={"token": s2["access_token"]}, headers=basic("rs", "rs-secret-value-1234")).status_code
            == 200
        )
        assert me_status(c, s2["access_token"]) == 401
