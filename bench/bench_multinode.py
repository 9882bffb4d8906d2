"""Multi-node figures on a PostgreSQL and a Redis of the benchmark's own: refreshes per second per node, stored
bytes per session in PostgreSQL, and revocation reach across three nodes and to an SDK-protected app."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
from tests.multinode.conftest import RP_SECRET, serve_relying_app
from tests.multinode.harness import FAST_HASH, Node, PostgresCluster, RedisServer, free_port, unavailable_reason

from bench.bench_sessions import FAST, PASSWORD
from sessionward.config import load_settings
from sessionward.crypto.kek import Kek
from sessionward.services.auth import LoginRequest
from sessionward.services.container import open_services


@contextmanager
def backing_stores() -> Iterator[tuple[PostgresCluster, RedisServer]]:
    workdir = Path(tempfile.mkdtemp(prefix="sessionward-bench-pg-"))
    workdir.chmod(0o755)
    pg, redis = PostgresCluster(workdir / "pg"), RedisServer(workdir)
    try:
        pg.init()
        pg.start()
        redis.start()
        yield pg, redis
    finally:
        redis.stop()
        pg.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


async def _refresh_rate(env: dict[str, str], data_dir: str, sessions: int, seconds: float) -> tuple[float, float]:
    svc = await open_services(load_settings(None, {**FAST, **env}, data_dir=data_dir))
    try:
        await svc.keyring.ensure_keys(svc.clock.now())
        await svc.auth.create_user("bench", PASSWORD, False, "bench")
        before = await _pg_session_bytes(svc)
        tokens = [
            (await svc.auth.login(LoginRequest("bench", PASSWORD, "web", "127.0.0.1", "bench"))).refresh_token
            for _ in range(sessions)
        ]
        per_session = (await _pg_session_bytes(svc) - before) / sessions
        done, stop_at = 0, time.monotonic() + seconds
        while time.monotonic() < stop_at:
            i = done % sessions
            tokens[i] = (await svc.sessions.refresh(tokens[i])).refresh_token
            done += 1
        return done / seconds, per_session
    finally:
        await svc.close()


async def _pg_session_bytes(svc: object) -> float:
    from sqlalchemy import text

    store = svc.store  # type: ignore[attr-defined]

    def size(conn: object) -> float:
        q = text("SELECT pg_total_relation_size('sessions') + pg_total_relation_size('refresh_tokens')")
        return float(conn.execute(q).scalar_one())  # type: ignore[attr-defined]

    return float(await store._read(size))


def revocation_reach(pg: PostgresCluster, redis: RedisServer, samples: int) -> tuple[list[float], list[float]]:
    database_url = pg.create_database(f"bench_{uuid.uuid4().hex[:10]}")
    port_a = free_port()
    env = {
        **FAST_HASH,
        "SESSIONWARD_STORAGE__DATABASE_URL": database_url,
        "SESSIONWARD_STORAGE__REDIS_URL": redis.url,
        # The nodes share the key-encryption key, as a deployment's nodes must (README, "Secrets at rest").
        "SESSIONWARD_STORAGE__KEK": Kek.generate().text,
        "SESSIONWARD_SERVER__ISSUER": f"https://127.0.0.1:{port_a}",
        "SESSIONWARD_CLIENTS__RP__CLIENT_SECRET": RP_SECRET,
        "SESSIONWARD_CLIENTS__RP__INTROSPECT_ANY": "true",  # the SDK app introspects new sessions
    }
    root = Path(tempfile.mkdtemp(prefix="sessionward-bench-nodes-"))
    nodes = [Node(n, root / n, env, **({"port": port_a} if n == "a" else {})) for n in ("a", "b", "c")]
    nodes_ms: list[float] = []
    app_ms: list[float] = []
    try:
        for node in nodes:
            node.data_dir.mkdir()
            node.start()
        assert nodes[0].cli("users", "add", "bench", stdin=PASSWORD + "\n").returncode == 0
        app_url, stop_app = serve_relying_app(nodes[0])
        clients = [n.client() for n in nodes]
        app = httpx2.Client(base_url=app_url, timeout=10.0)
        try:
            for i in range(samples):
                origin, *others = clients[i % 3 :] + clients[: i % 3]
                token = origin.post("/v1/sessions", json={"username": "bench", "password": PASSWORD}).json()[
                    "access_token"
                ]
                auth = {"Authorization": f"Bearer {token}"}
                for c in others:
                    c.get("/v1/me", headers=auth)
                app.get("/whoami", headers=auth)
                origin.delete("/v1/sessions/current", headers=auth)
                start = time.perf_counter()
                pending, app_pending = list(others), True
                while pending or app_pending:
                    if pending:
                        pending = [c for c in pending if c.get("/v1/me", headers=auth).status_code != 401]
                        if not pending:
                            nodes_ms.append((time.perf_counter() - start) * 1000)
                    if app_pending and app.get("/whoami", headers=auth).status_code == 401:
                        app_pending = False
                        app_ms.append((time.perf_counter() - start) * 1000)
                    if time.perf_counter() - start > 5:
                        raise RuntimeError("a revoked token is still accepted after 5 s")
        finally:
            app.close()
            for c in clients:
                c.close()
            stop_app()
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)
    return nodes_ms, app_ms


def quantiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[98]


def run(samples: int = 300) -> dict[str, float] | str:
    reason = unavailable_reason()
    if reason:
        return reason
    with backing_stores() as (pg, redis):
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:10]}")
        with tempfile.TemporaryDirectory() as tmp:
            env = {"SESSIONWARD_STORAGE__DATABASE_URL": url, "SESSIONWARD_STORAGE__REDIS_URL": redis.url}
            rate, per_session = anyio.run(_refresh_rate, env, tmp, 1000, 4.0)
        nodes_ms, app_ms = revocation_reach(pg, redis, samples)
    n50, n99 = quantiles(nodes_ms)
    a50, a99 = quantiles(app_ms)
    return {
        "pg_refresh": rate,
        "pg_bytes": per_session,
        "nodes_p50": n50,
        "nodes_p99": n99,
        "app_p50": a50,
        "app_p99": a99,
        "samples": float(samples),
    }
