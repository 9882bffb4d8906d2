"""A flood of bad tokens costs the audit trail a bounded number of rows and does not hold sign-ins up."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from sessionward.clock import FakeClock
from sessionward.core.audit import hash_identifier
from sessionward.core.refusals import SUMMARY_EVENT
from tests.service.conftest import Server, start_server
from tests.service.helpers import PASSWORD, login
from tests.service.test_audit_trail import audit_verify, records

FLOOD = 500
CONNECTIONS = 32


def trail(server: Server) -> list[tuple[str, dict[str, Any]]]:
    return [(r.event, json.loads(r.data_json)) for r in records(server)]


def start_flood(server: Server, count: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.service.flood", server.base_url, server.ca_file]
    command += [str(count), str(CONNECTIONS)]
    flooding = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert flooding.stdout is not None and flooding.stdout.readline() == "started\n"
    return flooding


def timed_login(server: Server, client: httpx2.Client) -> float:
    started = time.perf_counter()
    login(server, client)
    return time.perf_counter() - started


def wait_for(condition: Callable[[], list[Any]], seconds: float = 10.0) -> list[Any]:
    deadline = time.monotonic() + seconds
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


@pytest.mark.slow
def test_a_bad_token_flood_writes_five_records_and_a_counted_summary(
    server: Server, client: httpx2.Client, clock: FakeClock
) -> None:
    server.add_user("alice", PASSWORD)
    quiet = statistics.median(timed_login(server, client) for _ in range(3))
    before = len(records(server))

    flooding = start_flood(server, FLOOD)
    during: list[float] = []
    while flooding.poll() is None and len(during) < 5:
        during.append(timed_login(server, client))  # every sign-in succeeds (login asserts 201)
    out, _err = flooding.communicate(timeout=60)
    assert json.loads(out) == {"401": FLOOD}
    assert during, "the flood ended before a sign-in could be made during it"
    print(
        f"sign-in latency during a {FLOOD}-request bad-token flood: {statistics.median(during) * 1000:.1f} ms, "
        f"without: {quiet * 1000:.1f} ms, ratio {statistics.median(during) / quiet:.2f}"
    )

    rejected = [data for event, data in trail(server) if event == "token.rejected"]
    assert len(rejected) == 5
    assert all(r["ip"] == "127.0.0.1" and r["reason"] for r in rejected)

    clock.advance(61)  # the minute ends: its summary is written within the flush interval
    summaries = wait_for(lambda: [d for e, d in trail(server) if e == SUMMARY_EVENT])
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["event"] == "token.rejected"
    assert (summary["ip"], summary["reason"]) == ("127.0.0.1", rejected[0]["reason"])
    assert (summary["count"], summary["seen"]) == (FLOOD - 5, FLOOD)
    assert summary["window_seconds"] == 60
    # Bounded rows: the flood added its 5 records and 1 summary; the rest are the sign-ins made meanwhile.
    added = [event for event, _data in trail(server)[before:]]
    assert len([e for e in added if e not in ("login.succeeded", "session.created")]) == 6
    verified = audit_verify(server.data_dir)
    assert verified.returncode == 0, verified.stderr


def test_the_summary_of_the_current_minute_is_written_when_the_server_stops(tmp_path: Path) -> None:
    server, stop = start_server(tmp_path / "node", clock=FakeClock(time.time()))
    try:
        with server.client() as c:
            for n in range(12):
                assert c.get("/v1/me", headers={"Authorization": f"Bearer bad.{n}"}).status_code == 401
    finally:
        stop()
    events = trail(server)
    assert len([e for e, _d in events if e == "token.rejected"]) == 5
    [summary] = [d for e, d in events if e == SUMMARY_EVENT]
    assert (summary["count"], summary["seen"]) == (7, 12)
    assert audit_verify(server.data_dir).returncode == 0


def test_client_authentication_failures_are_counted_the_same_way(server: Server, client: httpx2.Client) -> None:
    for _ in range(8):
        r = client.post("/v1/oauth/introspect", data={"token": "x"}, auth=("no-such-client", "wrong secret"))
        assert r.status_code == 401
    failed = [d for e, d in trail(server) if e == "client.auth_failed"]
    assert len(failed) == 5
    assert "wrong secret" not in json.dumps(failed)


def test_a_refusal_of_a_validly_signed_token_names_its_session_by_digest(server: Server, client: httpx2.Client) -> None:
    """Its own budget per session: an anonymous flood cannot crowd it out (tests/unit/test_refusal_tally.py)."""
    user_id = server.add_user("alice", PASSWORD)
    issued = login(server, client)
    for _ in range(7):
        r = client.get("/v1/me", headers={"Authorization": f"DPoP {issued['access_token']}"})  # unbound, as DPoP
        assert r.status_code == 401
    rejected = [d for e, d in trail(server) if e == "token.rejected"]
    assert len(rejected) == 5
    assert {(r["reason"], r["sid"], r["user_id"]) for r in rejected} == {
        ("unbound_token_as_dpop", hash_identifier(issued["session_id"]), user_id)
    }
    assert issued["session_id"] not in json.dumps(trail(server))
