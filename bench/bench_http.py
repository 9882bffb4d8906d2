"""Server figures: GET /v1/me against GET /healthz, and login against raw argon2id verify."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type

from bench._server import BenchServer, one_request, requests_per_second, running_server

PASSWORD = "correct horse battery staple"
# Logins in a row from one address would be throttled: lift that for the run. Each login past the tenth
# evicts the user's oldest session, as a real user's would (the admission reads the user's live sessions).
BENCH_ENV = {
    "SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "1000000",
    "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",
    "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_IP": "1000000",
}


def _login_body() -> bytes:
    return json.dumps({"username": "bench", "password": PASSWORD}).encode()


def _login(server: BenchServer) -> dict[str, object]:
    import asyncio

    status, body = asyncio.run(
        one_request(server, "POST", "/v1/sessions", {"Content-Type": "application/json"}, _login_body())
    )
    if status != 201:
        raise RuntimeError(f"login failed: {status} {body[:200]!r}")
    result: dict[str, object] = json.loads(body)
    return result


def me_vs_healthz(server: BenchServer, seconds: float = 2.0, rounds: int = 2) -> tuple[float, float]:
    token = _login(server)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    requests_per_second(server, "GET", "/healthz", seconds=0.5)  # warm-up
    health = me = 0.0
    for _ in range(rounds):
        health = max(health, requests_per_second(server, "GET", "/healthz", seconds=seconds))
        me = max(me, requests_per_second(server, "GET", "/v1/me", auth, seconds=seconds))
    return me, health


def raw_argon2_rate(seconds: float, workers: int) -> float:
    hasher = PasswordHasher(type=Type.ID)  # the library defaults, as the server's default [passwords]
    stored = hasher.hash(PASSWORD)
    stop_at = time.monotonic() + seconds

    def work() -> int:
        n = 0
        while time.monotonic() < stop_at:
            hasher.verify(stored, PASSWORD)
            n += 1
        return n

    with ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(lambda _: work(), range(workers))) / seconds


def login_vs_argon2(server: BenchServer, seconds: float = 4.0) -> tuple[float, float]:
    workers = os.cpu_count() or 2
    _login(server)  # warm-up
    headers = {"Content-Type": "application/json"}
    login = requests_per_second(server, "POST", "/v1/sessions", headers, _login_body(), workers, seconds)
    raw = raw_argon2_rate(seconds, workers)
    return login, raw


def run() -> dict[str, float]:
    with running_server(BENCH_ENV) as server:
        server.cli("users", "add", "bench", stdin=PASSWORD + "\n")
        me, health = me_vs_healthz(server)
        login, raw = login_vs_argon2(server)
    return {"me": me, "healthz": health, "login": login, "argon2": raw}
