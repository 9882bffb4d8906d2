"""One account whatever the case of its name, through a real server and the real command: `Alice` signs in as
alice, a second `alice` in another case is refused at creation (409 / exit 1), and wrong passwords typed in any
case form count against the one account."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx2

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer, login
from tests.service.test_cli import one_line, run

FULL_WIDTH_ALICE = "\uff21\uff4c\uff49\uff43\uff45"


def test_sign_in_by_any_case_form_is_the_one_user(server: Server, client: httpx2.Client) -> None:
    user_id = server.add_user("alice", PASSWORD)
    sids = set()
    for typed in ("alice", "Alice", "ALICE", FULL_WIDTH_ALICE):
        s = login(server, client, typed)
        me = client.get("/v1/me", headers=bearer(s["access_token"])).json()
        assert (me["sub"], me["username"]) == (user_id, "alice")
        sids.add(s["session_id"])
    listed = client.get("/v1/sessions", headers=bearer(s["access_token"])).json()["sessions"]
    assert {x["session_id"] for x in listed} == sids  # four sessions of one account
    assert server.login(client, "Alic", PASSWORD).status_code == 401


def test_a_name_differing_only_in_case_is_refused_at_creation(server: Server, client: httpx2.Client) -> None:
    server.add_user("root", PASSWORD, admin=True)
    server.add_user("alice", PASSWORD)
    admin = bearer(login(server, client, "root")["access_token"])
    for name in ("Alice", "ALICE", "alice"):
        r = client.post("/v1/admin/users", json={"username": name, "password": "another long password"}, headers=admin)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "conflict" and "'alice' exists already" in r.json()["error_description"]
    assert server.login(client, "Alice", "another long password").status_code == 401  # no second account
    r = client.post("/v1/admin/users", json={"username": "Bob", "password": "another long password"}, headers=admin)
    assert r.status_code == 201 and r.json()["username"] == "Bob"  # the name is kept as written
    assert server.login(client, "bob", "another long password").status_code == 201
    # Administration by name finds the one user whatever the case.
    alice = login(server, client, "alice")
    assert client.delete("/v1/admin/users/ALICE/sessions", headers=admin).status_code == 204
    assert client.get("/v1/me", headers=bearer(alice["access_token"])).status_code == 401


def test_users_add_refuses_a_name_differing_only_in_case(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    done = run(tmp_path, "users", "add", "Alice", stdin="another password\n", data_dir=data)
    assert done.returncode == 1 and done.stdout == ""
    assert "the user 'alice' exists already: 'Alice' differs from it only in case" in one_line(done.stderr)
    listing = run(tmp_path, "users", "list", data_dir=data)
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == ["alice"]


def test_wrong_passwords_in_any_case_count_against_one_account(
    make_server: Callable[..., Server], clock: FakeClock
) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "2"}, clock=clock)
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        assert server.login(c, "ALICE", "wrong").status_code == 401
        assert server.login(c, FULL_WIDTH_ALICE, "wrong").status_code == 401
        r = server.login(c, "alice", PASSWORD)  # the window of the one account is full
        assert r.status_code == 429 and r.headers["retry-after"]
