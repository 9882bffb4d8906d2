"""One contract suite for every durable-store backend: `store` yields a fresh, initialized store.

PostgreSQL: the database named by SESSIONWARD_TEST_DATABASE_URL (default below; `.ci/run` makes it). Each test
gets a schema of its own, named on every connection's search_path and dropped afterwards. Without a reachable
server the PostgreSQL cases skip with the reason, except when CI is set: there they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from sessionward.crypto.kek import Kek, KekRing, StaticKeks
from sessionward.stores.sql import SqlStore, engine_url, sqlite_url

REVOCATION_TTL = 305.0
# The key-encryption key every test store is unlocked with (as a deployment's nodes share theirs).
TEST_KEKS = StaticKeks(KekRing((Kek.generate(),)))
T_UNLOCK = 1_800_000_000.0
BACKENDS = ["sqlite", "postgresql"]
DEFAULT_DATABASE_URL = "postgresql://sessionward:sessionward@127.0.0.1:5432/sessionward_test"
DATABASE_URL = os.environ.get("SESSIONWARD_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgresql_admin() -> Iterator[Engine]:
    """An autocommit engine on the test database, for making and dropping the per-test schemas."""
    engine = create_engine(
        engine_url(DATABASE_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        where = make_url(DATABASE_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} is unreachable ({str(exc.orig).strip().splitlines()[0]})"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the PostgreSQL contract tests (.ci/run starts the server)")
        pytest.skip(f"{reason}; set SESSIONWARD_TEST_DATABASE_URL or run .ci/run")
    yield engine
    engine.dispose()


def schema_url(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema` (libpq's options parameter)."""
    with_path = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return with_path.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a file for SQLite, a schema of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    admin: Engine = request.getfixturevalue("postgresql_admin")
    schema = f"sw_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(DATABASE_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    await s.initialize()
    await s.unlock(TEST_KEKS, T_UNLOCK)
    yield s
    await s.close()


@pytest.fixture
async def two_nodes(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """Two stores on one database, as two nodes (or a node and the CLI) have: engines, pools and limiters apart."""
    a = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    b = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    await a.initialize()
    await b.initialize()
    await a.unlock(TEST_KEKS, T_UNLOCK)
    await b.unlock(TEST_KEKS, T_UNLOCK)
    yield a, b
    await a.close()
    await b.close()
