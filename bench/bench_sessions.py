"""Session figures: refreshes per second on one core, stored bytes per session, and revocation reach
from one node to another (two server processes on one data dir)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from bench._server import BenchServer, one_request, running_server
from sessionward.config import load_settings
from sessionward.services.auth import LoginRequest
from sessionward.services.container import open_services

PASSWORD = "correct horse battery staple"
FAST = {
    "SESSIONWARD_PASSWORDS__TIME_COST": "1",
    "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024",
    "SESSIONWARD_PASSWORDS__PARALLELISM": "1",
    "SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "1000000",
    "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER": "1000000",
    "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_IP": "1000000",
}


async def _refresh_rate(data_dir: Path, sessions: int, seconds: float) -> tuple[float, float, float]:
    settings = load_settings(None, FAST, data_dir=str(data_dir))
    svc = await open_services(settings)
    try:
        await svc.keyring.ensure_keys(svc.clock.now())
        await svc.auth.create_user("bench", PASSWORD, False, "bench")
        tokens = []
        for _ in range(sessions):
            issued = await svc.auth.login(LoginRequest("bench", PASSWORD, "web", "127.0.0.1", "bench"))
            tokens.append(issued.refresh_token)
        fresh_bytes = _bytes_per_session(data_dir / "sessionward.db", sessions)
        done, stop_at = 0, time.monotonic() + seconds
        while time.monotonic() < stop_at:
            i = done % sessions
            tokens[i] = (await svc.sessions.refresh(tokens[i])).refresh_token
            done += 1
        generations = done / sessions
        grown = _bytes_per_session(data_dir / "sessionward.db", sessions) - fresh_bytes
        return done / seconds, fresh_bytes, grown / generations if generations else 0.0
    finally:
        await svc.close()


def _bytes_per_session(db: Path, sessions: int) -> float:
    """Pages of the session tables and their indexes (the state a live session needs), per session."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT SUM(pgsize - unused) FROM dbstat WHERE name IN "
            "('sessions', 'refresh_tokens', 'ix_sessions_user_state', 'ix_sessions_ip_state', 'ix_refresh_sid')"
            " OR name LIKE 'sqlite_autoindex_sessions%' OR name LIKE 'sqlite_autoindex_refresh_tokens%'"
        ).fetchone()
        return float(rows[0]) / sessions
    finally:
        con.close()


def refresh_rate(sessions: int = 200, seconds: float = 4.0) -> tuple[float, float, float]:
    """Refreshes/s on one core; stored bytes per fresh session; bytes each refresh generation adds."""
    with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp:
        return anyio.run(_refresh_rate, Path(tmp), sessions, seconds)


def _me(server: BenchServer, token: str) -> int:
    status, _ = asyncio.run(one_request(server, "GET", "/v1/me", {"Authorization": f"Bearer {token}"}))
    return status


def revocation_reach(samples: int = 30) -> list[float]:
    """Log out on node A, then poll node B until it rejects the token: milliseconds per sample."""
    timings = []
    # Nodes behind one name share one issuer; each node's default issuer would name its own port.
    shared = {**FAST, "SESSIONWARD_SERVER__ISSUER": "https://sessionward.internal"}
    with running_server(shared) as a:
        a.cli("users", "add", "bench", stdin=PASSWORD + "\n")
        with running_server(shared, data_dir=a.data_dir) as b:
            body = json.dumps({"username": "bench", "password": PASSWORD}).encode()
            for _ in range(samples):
                _status, raw = asyncio.run(
                    one_request(a, "POST", "/v1/sessions", {"Content-Type": "application/json"}, body)
                )
                token = json.loads(raw)["access_token"]
                if _me(b, token) != 200:
                    raise RuntimeError("node B does not accept node A's fresh token")
                asyncio.run(one_request(a, "DELETE", "/v1/sessions/current", {"Authorization": f"Bearer {token}"}))
                start = time.perf_counter()
                while _me(b, token) != 401:
                    if time.perf_counter() - start > 5:
                        raise RuntimeError("node B still accepts a revoked token after 5 s")
                timings.append((time.perf_counter() - start) * 1000)
    return timings


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]
