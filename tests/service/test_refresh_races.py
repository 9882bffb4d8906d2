"""Browser tabs racing to refresh one session, through the real HTTPS server, on SQLite and on PostgreSQL.

Tabs share one storage (localStorage or cookies) and refresh on their own: two at once with the same token, a lost
answer retried while another tab refreshes twice, a slow request overtaken by two refreshes. SPEC section 4: every
token rotated out less than `refresh_grace` ago, however many rotations followed it, gets the pair it got the first
time; not one of these sessions may end early. Past its grace the same token is reuse and ends that session only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.contract.conftest import database_url, postgresql_admin  # noqa: F401 - fixtures: the backends
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, SHORT_POLICY, login, me_status, refresh

GRACE = 10.0  # SHORT_POLICY's refresh_grace


@pytest.fixture
def server(make_server: Callable[..., Server], clock: FakeClock, database_url: str) -> Server:  # noqa: F811
    s = make_server(env={**SHORT_POLICY, "SESSIONWARD_STORAGE__DATABASE_URL": database_url}, clock=clock)
    s.add_user("alice", PASSWORD)
    return s


@pytest.fixture
def client(server: Server) -> Iterator[httpx2.Client]:
    with server.client() as c:
        yield c


def ok(r: httpx2.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def pair(body: dict[str, Any]) -> tuple[str, str]:
    return body["access_token"], body["refresh_token"]


def session_alive(client: httpx2.Client, body: dict[str, Any]) -> bool:
    return me_status(client, body["access_token"]) == 200


def test_a_lost_answer_retried_while_another_tab_refreshed_twice(
    server: Server, client: httpx2.Client, clock: FakeClock
) -> None:
    first = login(server, client)
    lost = ok(refresh(client, first["refresh_token"]))  # tab A's answer never arrives
    clock.advance(1)
    # Tab B still finds the first token in the shared storage: the grace answers it with A's pair.
    b = ok(refresh(client, first["refresh_token"]))
    assert pair(b) == pair(lost)
    clock.advance(1)
    b = ok(refresh(client, b["refresh_token"]))
    clock.advance(1)
    b = ok(refresh(client, b["refresh_token"]))
    clock.advance(3)
    retried = ok(refresh(client, first["refresh_token"]))  # A retries, two rotations later
    assert pair(retried) == pair(lost)
    assert session_alive(client, b) and session_alive(client, retried)
    assert ok(refresh(client, b["refresh_token"]))["session_id"] == first["session_id"]


def test_a_slow_request_overtaken_by_two_refreshes(server: Server, client: httpx2.Client, clock: FakeClock) -> None:
    first = login(server, client)
    one = ok(refresh(client, first["refresh_token"]))  # tab B
    clock.advance(2)
    two = ok(refresh(client, one["refresh_token"]))  # tab C
    clock.advance(2)
    three = ok(refresh(client, two["refresh_token"]))  # tab B again
    clock.advance(GRACE - 4)  # onto the edge of the first token's grace: inclusive
    slow = ok(refresh(client, first["refresh_token"]))  # tab A's request, sent with the first token
    assert pair(slow) == pair(one)
    # One generation at a time, each within its own grace, each gets what it got the first time.
    assert pair(ok(refresh(client, one["refresh_token"]))) == pair(two)
    assert pair(ok(refresh(client, two["refresh_token"]))) == pair(three)
    assert session_alive(client, three)


def test_past_its_own_grace_an_overtaken_token_is_reuse_ending_that_session_only(
    server: Server, client: httpx2.Client, clock: FakeClock
) -> None:
    victim, other = login(server, client), login(server, client)
    one = ok(refresh(client, victim["refresh_token"]))
    clock.advance(4)
    two = ok(refresh(client, one["refresh_token"]))
    clock.advance(GRACE - 4 + 0.5)  # past the first token's grace; `one` was rotated out 6.5 s ago
    stolen = refresh(client, victim["refresh_token"])
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_grant"
    assert refresh(client, one["refresh_token"]).status_code == 401  # the whole session ended
    assert refresh(client, two["refresh_token"]).status_code == 401
    assert not session_alive(client, two)
    assert session_alive(client, other)
    assert ok(refresh(client, other["refresh_token"]))["session_id"] == other["session_id"]


def test_racing_tabs_with_lost_answers_end_no_session(server: Server, client: httpx2.Client) -> None:
    """Five tabs, each refreshing from the shared storage at once, retrying every other answer as if lost, and one
    slow request holding the login's token until all of them are done: every answer is 200, each token always gets
    one and the same pair, and the session lives on."""
    first = login(server, client)
    lock = threading.Lock()
    storage = {"body": first}
    answers: dict[str, set[tuple[str, str]]] = {}
    failures: list[str] = []
    barrier = threading.Barrier(5)

    def answered(token: str, r: httpx2.Response) -> dict[str, Any] | None:
        if r.status_code != 200:
            failures.append(f"{r.status_code} {r.text}")
            return None
        body: dict[str, Any] = r.json()
        with lock:
            answers.setdefault(token, set()).add(pair(body))
            if storage["body"]["refresh_token"] == token:  # the tab's compare-and-set on the shared storage
                storage["body"] = body
        return body

    def tab(index: int) -> None:
        with server.client() as own:
            barrier.wait()
            for step in range(6):
                with lock:
                    token = storage["body"]["refresh_token"]
                body = answered(token, refresh(own, token))
                if body is not None and (step + index) % 2 == 0:  # lost: retried with the same token
                    answered(token, refresh(own, token))

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slow = answered(first["refresh_token"], refresh(client, first["refresh_token"]))
    assert failures == []
    assert slow is not None
    assert len(answers) > 3, "the tabs never rotated past the first token"
    assert all(len(pairs) == 1 for pairs in answers.values()), "one token was answered with two pairs"
    latest = storage["body"]
    assert session_alive(client, latest)
    assert ok(refresh(client, latest["refresh_token"]))["session_id"] == first["session_id"]
