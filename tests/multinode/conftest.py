"""A three-node sessionward on one PostgreSQL and one Redis of the tests' own."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.multinode.harness import FAST_HASH, PASSWORD, Node, PostgresCluster, RedisServer, unavailable_reason


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


@dataclass
class Cluster:
    nodes: list[Node]
    database_url: str
    redis: RedisServer

    def add_user(self, name: str = "alice") -> None:
        done = self.nodes[0].cli("users", "add", name, stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr


@pytest.fixture
def cluster(postgres: PostgresCluster, redis: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    database_url = postgres.create_database(f"sw_{uuid.uuid4().hex[:12]}")
    env = {
        **FAST_HASH,
        "SESSIONWARD_STORAGE__DATABASE_URL": database_url,
        "SESSIONWARD_STORAGE__REDIS_URL": redis.url,
        "SESSIONWARD_SERVER__ISSUER": "https://sessionward.test",
    }
    nodes = [Node(name, tmp_path / name, env) for name in ("a", "b", "c")]
    for node in nodes:
        node.data_dir.mkdir()
    try:
        nodes[0].start()  # the first one applies the migrations and makes the keys
        for node in nodes[1:]:
            node.start()
        yield Cluster(nodes, database_url, redis)
    finally:
        for node in nodes:
            node.stop()
