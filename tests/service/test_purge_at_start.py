"""Issue 11 item 4: the purge also runs when a node starts, so nodes restarted more often than hourly still
forget long-ended sessions (and the revocation entries behind them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio

from sessionward.clock import FakeClock
from sessionward.config import load_settings
from sessionward.http.app import ENDED_SESSION_RETENTION
from sessionward.services.auth import LoginRequest
from sessionward.services.container import open_services
from tests.service.conftest import FAST_HASH, Server

PASSWORD = "correct horse battery staple"


def test_a_starting_node_purges_long_ended_sessions(tmp_path: Path, make_server: Callable[..., Server]) -> None:
    start = time.time() - ENDED_SESSION_RETENTION - 86400
    settings = load_settings(None, FAST_HASH, data_dir=str(tmp_path / "node"))

    async def seed() -> str:
        svc = await open_services(settings, FakeClock(start))
        try:
            await svc.keyring.ensure_keys(start)
            await svc.auth.create_user("alice", PASSWORD, False, "test")
            issued = await svc.auth.login(LoginRequest("alice", PASSWORD, "web", "192.0.2.1", "ua"))
            sid = issued.session.sid
            await svc.store.end_sessions([sid], "logout", "user", [], start + 1)
            return sid
        finally:
            await svc.close()

    async def still_listed(sid: str) -> bool:
        svc = await open_services(settings)
        try:
            return await svc.store.get_session(sid) is not None
        finally:
            await svc.close()

    sid = anyio.run(seed)
    assert anyio.run(still_listed, sid)
    make_server(name="node")  # starts an hour's purge round at once, not after an hour of uptime
    deadline = time.monotonic() + 5
    while anyio.run(still_listed, sid):
        assert time.monotonic() < deadline, "the starting node did not purge the long-ended session"
        time.sleep(0.05)
