"""GET /v1/revocations/stream through the real HTTPS server: client auth, backlog, resume, heartbeats, shutdown."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from sessionward.core.audit import AuditRecord
from sessionward.core.models import Revocation
from sessionward.http.routes.revocations import SentSeqs, last_event_id
from sessionward.services.container import open_services
from tests.service.conftest import Server, start_server
from tests.service.helpers import PASSWORD, bearer, login

PATH = "/v1/revocations/stream"
SECRET = "rp-secret-for-the-feed"
ENV = {"SESSIONWARD_CLIENTS__RP__CLIENT_SECRET": SECRET}


def basic(client_id: str = "rp", secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@dataclass
class Item:
    kind: str  # "ping" or "event"
    id: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


class Feed:
    """A blocking SSE reader for tests: items are pings and revocation events."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> Item:
        event_id, data = 0, ""
        for line in self._lines:
            if line == ": ping":
                return Item("ping", at=time.monotonic())
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                return Item("event", event_id, json.loads(data), time.monotonic())
        raise EOFError("the stream ended")

    def backlog(self) -> list[Item]:
        """The events before the first ping of a connection."""
        items = []
        while (item := self.next()).kind == "event":
            items.append(item)
        return items

    def wait_for(self, predicate: Callable[[Item], bool], within: float) -> Item:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            item = self.next()
            if predicate(item):
                return item
        raise AssertionError(f"nothing matching within {within} s")


@contextlib.contextmanager
def feed(client: httpx2.Client, **headers: str) -> Iterator[Feed]:
    all_headers = {**basic(), **{k.replace("_", "-"): v for k, v in headers.items()}}
    with client.stream("GET", PATH, headers=all_headers, timeout=httpx2.Timeout(5.0, read=2.0)) as response:
        assert response.status_code == 200, response.read()
        yield Feed(response)


@pytest.fixture
def idp(make_server: Callable[..., Server]) -> Server:
    server = make_server(env=ENV)
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    return server


@pytest.fixture
def http(idp: Server) -> Iterator[httpx2.Client]:
    with idp.client() as c:
        yield c


def audit_records(server: Server) -> list[AuditRecord]:
    async def work() -> list[AuditRecord]:
        svc = await open_services(server.settings)
        try:
            return [r async for r in svc.store.audit_records()]
        finally:
            await svc.close()

    return anyio.run(work)


def test_only_clients_with_a_secret_may_listen(idp: Server, http: httpx2.Client) -> None:
    for headers in ({}, basic(secret="wrong"), basic("web", ""), basic("nobody", "x"), {"Authorization": "Bearer x"}):
        r = http.get(PATH, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"
        assert r.headers["www-authenticate"] == 'Basic realm="sessionward"'
    with feed(http) as f:
        assert f.response.headers["content-type"].startswith("text/event-stream")
        assert f.response.headers["cache-control"] == "no-store"
        assert f.backlog() == []
    opened = [json.loads(r.data_json) for r in audit_records(idp) if r.event == "revocation_stream.opened"]
    assert len(opened) == 1 and opened[0]["client_id"] == "rp"


def test_a_logout_reaches_the_stream_within_a_second(idp: Server, http: httpx2.Client) -> None:
    s = login(idp, http)
    with feed(http) as f:
        f.backlog()
        assert http.delete("/v1/sessions/current", headers=bearer(s["access_token"])).status_code == 204
        ended = time.monotonic()
        item = f.wait_for(lambda i: i.kind == "event", within=1.0)
        assert item.at - ended < 1.0
        assert item.data["kind"] == "sid" and item.data["sid"] == s["session_id"]
        assert item.data["until"] > time.time() + 60  # kept while a token of the session could live


def test_heartbeats_arrive_every_quarter_second(http: httpx2.Client) -> None:
    with feed(http) as f:
        f.backlog()
        pings = [f.next() for _ in range(4)]
    assert all(p.kind == "ping" for p in pings)
    gaps = [b.at - a.at for a, b in itertools.pairwise(pings)]
    assert max(gaps) < 0.6, gaps
    assert sum(gaps) / len(gaps) > 0.15, gaps  # paced, not a flood


def test_a_fresh_connection_gets_every_entry_that_still_matters(idp: Server, http: httpx2.Client) -> None:
    a1, a2, b = login(idp, http, "alice"), login(idp, http, "alice"), login(idp, http, "bob")
    assert http.delete("/v1/sessions/current", headers=bearer(a1["access_token"])).status_code == 204
    changed = http.post(
        "/v1/password",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=bearer(b["access_token"]),
    )
    assert changed.status_code == 200
    bob = http.get("/v1/me", headers=bearer(changed.json()["access_token"])).json()["sub"]
    with feed(http) as f:
        backlog = f.backlog()
    sids = {i.data["sid"] for i in backlog if i.data["kind"] == "sid"}
    epochs = {i.data["sub"]: i.data["epoch"] for i in backlog if i.data["kind"] == "epoch"}
    assert sids == {a1["session_id"], b["session_id"]}
    assert a2["session_id"] not in sids
    assert bob in epochs and epochs[bob] <= time.time()
    ids = [i.id for i in backlog]
    assert ids == sorted(set(ids))


def test_resuming_with_last_event_id_sends_only_later_entries(idp: Server, http: httpx2.Client) -> None:
    first, second = login(idp, http), login(idp, http)
    http.delete("/v1/sessions/current", headers=bearer(first["access_token"]))
    with feed(http) as f:
        (seen,) = f.backlog()
    assert seen.data["sid"] == first["session_id"]
    http.delete("/v1/sessions/current", headers=bearer(second["access_token"]))
    with feed(http, Last_Event_ID=str(seen.id)) as f:
        resumed = f.backlog()
    assert [i.data["sid"] for i in resumed] == [second["session_id"]]
    assert resumed[0].id > seen.id
    # An unusable id is not trusted to skip anything: the whole backlog comes again.
    with feed(http, Last_Event_ID="not-a-number") as f:
        assert {i.data["sid"] for i in f.backlog()} == {first["session_id"], second["session_id"]}


def test_the_stream_ends_promptly_when_the_server_shuts_down(tmp_path: Path) -> None:
    server, stop = start_server(tmp_path / "node", ENV)
    stopper = threading.Thread(target=stop)
    try:
        with server.client() as c, feed(c) as f:
            f.backlog()
            began = time.monotonic()
            stopper.start()  # the reader keeps reading, as a real one does (TLS close needs the peer)
            with pytest.raises((EOFError, httpx2.HTTPError)):
                f.wait_for(lambda _item: False, within=5.0)
            ended = time.monotonic() - began
        stopper.join(timeout=10)
        took = time.monotonic() - began
        assert ended < 1.0, f"the stream went on {ended:.1f} s into the shutdown"
        assert took < 2.0, f"the shutdown took {took:.1f} s"
    finally:
        if not stopper.is_alive() and stopper.ident is None:
            stop()


def test_a_connection_never_sends_a_seq_twice_even_out_of_order() -> None:
    def r(seq: int) -> Revocation:
        return Revocation(seq, "sid", f"s{seq}", 1e12)

    sent = SentSeqs(0)
    assert [e.seq for e in sent.fresh([r(1), r(2), r(4)])] == [1, 2, 4]
    assert sent.cursor == 4
    # Seq 3 commits late: the store's overlap window returns it with the entries already sent.
    assert [e.seq for e in sent.fresh([r(2), r(3), r(4), r(5)])] == [3, 5]
    assert [e.seq for e in sent.fresh([r(3), r(4), r(5)])] == []
    assert sent.cursor == 5
    assert last_event_id(None) == 0 and last_event_id("17") == 17
    assert last_event_id("-1") == last_event_id("1e3") == last_event_id("9" * 30) == 0
