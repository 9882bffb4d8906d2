"""A three-node sessionward on one PostgreSQL and one Redis of the tests' own."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sessionward.crypto.kek import Kek
from tests.multinode.harness import (
    FAST_HASH,
    PASSWORD,
    Node,
    PostgresCluster,
    RedisServer,
    free_port,
    unavailable_reason,
)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must run the multi-node tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    reason = unavailable_reason()
    if reason:
        _skip_or_fail(reason)
    # Outside pytest's own temp folder, which only root may enter: the cluster runs as the postgres user.
    workdir = Path(tempfile.mkdtemp(prefix="sessionward-pg-"))
    workdir.chmod(0o755)
    cluster = PostgresCluster(workdir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
        cluster.stop("immediate")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


RP_SECRET = "relying-party-secret-0123456789"


@dataclass
class Cluster:
    nodes: list[Node]
    database_url: str
    redis: RedisServer
    app_url: str = ""

    def add_user(self, name: str = "alice") -> None:
        done = self.nodes[0].cli("users", "add", name, stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr


@pytest.fixture
def cluster(postgres: PostgresCluster, redis: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    database_url = postgres.create_database(f"sw_{uuid.uuid4().hex[:12]}")
    port_a = free_port()
    env = {
        **FAST_HASH,
        "SESSIONWARD_STORAGE__DATABASE_URL": database_url,
        "SESSIONWARD_STORAGE__REDIS_URL": redis.url,
        # The nodes share the key-encryption key, as a deployment's nodes must (README, "Secrets at rest").
        "SESSIONWARD_STORAGE__KEK": Kek.generate().text,
        # One issuer for all nodes; the relying app reaches it as node a.
        "SESSIONWARD_SERVER__ISSUER": f"https://127.0.0.1:{port_a}",
        "SESSIONWARD_CLIENTS__RP__CLIENT_SECRET": RP_SECRET,
        "SESSIONWARD_CLIENTS__RP__INTROSPECT_ANY": "true",  # the SDK app introspects new sessions
    }
    nodes = [Node(name, tmp_path / name, env, **({"port": port_a} if name == "a" else {})) for name in ("a", "b", "c")]
    for node in nodes:
        node.data_dir.mkdir()
    try:
        nodes[0].start()  # the first one applies the migrations and makes the keys
        for node in nodes[1:]:
            node.start()
        app_url, stop_app = serve_relying_app(nodes[0])
        try:
            yield Cluster(nodes, database_url, redis, app_url)
        finally:
            stop_app()
    finally:
        for node in nodes:
            node.stop()


def serve_relying_app(idp: Node) -> tuple[str, Callable[[], None]]:
    """An app protected by sessionward.sdk, in a thread of the test process, verifying against node a."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from sessionward.sdk import SessionwardAuth, get_principal
    from tests.service.test_sdk import serve

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"sub": get_principal(request).sub})

    auth = SessionwardAuth(
        Starlette(routes=[Route("/whoami", whoami)]),
        issuer=idp.base_url,
        client_id="rp",
        client_secret=RP_SECRET,
        ca_file=str(idp.data_dir / "tls-cert.pem"),
        feed_bound=1.0,
    )
    return serve(auth, auth)
