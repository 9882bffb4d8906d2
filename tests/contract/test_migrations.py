"""The schema migrations on every backend: they build exactly schema.py, run once however many start at once,
adopt a database made before they existed, and `sessionward db upgrade` applies them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, func, insert, inspect, select, text
from sqlalchemy.pool import NullPool

from sessionward.core.audit import GENESIS_HASH, AuditEvent, verify_chain
from sessionward.migrations import INITIAL, alembic_config, head_revision
from sessionward.stores import schema as t
from sessionward.stores.sql import PoolPlan, SqlStore, engine_url
from tests.contract.conftest import REVOCATION_TTL
from tests.contract.test_store_contract import T0, a_session, a_user

pytestmark = pytest.mark.anyio
T = TypeVar("T")


def on_database(url: str, fn: Callable[[Connection], T]) -> T:
    """Runs `fn(conn)` in one committed transaction on a throwaway engine for `url`."""
    engine = create_engine(engine_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            return fn(conn)
    finally:
        engine.dispose()


def differences(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, t.metadata))


async def test_the_migrated_schema_is_exactly_schema_py(store: SqlStore, database_url: str) -> None:
    assert on_database(database_url, differences) == []
    tables = on_database(database_url, lambda conn: set(inspect(conn).get_table_names()))
    assert tables == {*t.metadata.tables, "alembic_version"}


async def test_upgrading_again_changes_nothing_and_reports_the_head(store: SqlStore) -> None:
    head = head_revision()
    assert head == "0009"
    assert await store.upgrade() == head
    await store.initialize()
    assert await store.upgrade() == head
    assert await store.audit_head() == (0, GENESIS_HASH)  # seeded once, not again


async def test_nodes_starting_at_once_migrate_once(database_url: str) -> None:
    stores = [SqlStore(database_url, revocation_ttl=REVOCATION_TTL) for _ in range(4)]
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for s in stores:
                    tg.start_soon(s.initialize)
        assert {await s.upgrade() for s in stores} == {head_revision()}
        heads = on_database(
            database_url,
            lambda conn: (
                conn.execute(select(func.count()).select_from(t.audit_head)).scalar_one(),
                conn.execute(select(func.count()).select_from(t.revocation_head)).scalar_one(),
                conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one(),
            ),
        )
        assert heads == (1, 1, 1)
        assert on_database(database_url, differences) == []
    finally:
        for s in stores:
            await s.close()


async def test_a_database_made_before_migrations_is_adopted(database_url: str) -> None:
    """create_all of revision 0001, then used: no alembic_version, no revocation_head, no audit head row yet."""

    def legacy(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), INITIAL)
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(insert(t.revocations).values(seq=41, kind="epoch", subject="old-user", value=T0, at=T0))

    on_database(database_url, legacy)
    store = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    try:
        await store.initialize()
        assert on_database(database_url, differences) == []
        user = await a_user(store)
        session, refresh = a_session(user, 1)
        await store.create_session(session, refresh, [AuditEvent("session.created", {})], T0)
        await store.end_sessions([session.sid], "logout", "user", [], T0 + 1)
        feed = await store.revocations_since(0, T0 + 1)
        assert [(e.seq, e.subject) for e in feed] == [(41, "old-user"), (42, session.sid)]
        assert verify_chain([r async for r in store.audit_records()], await store.audit_head()).ok
    finally:
        await store.close()


def test_the_pool_is_split_between_writers_and_readers() -> None:
    assert PoolPlan.for_pool(10, sqlite=False) == PoolPlan(writers=6, readers=4)
    assert PoolPlan.for_pool(24, sqlite=False) == PoolPlan(writers=16, readers=8)
    assert PoolPlan.for_pool(1, sqlite=False) == PoolPlan(writers=1, readers=1)
    assert PoolPlan.for_pool(10, sqlite=True) == PoolPlan(writers=1, readers=9)
    assert PoolPlan.for_pool(1000, sqlite=False).connections == 1000
    with pytest.raises(ValueError, match="pool_size"):
        PoolPlan.for_pool(0, sqlite=False)


async def test_the_store_sizes_its_pool_and_limiters_from_pool_size(database_url: str) -> None:
    store = SqlStore(database_url, revocation_ttl=REVOCATION_TTL, pool_size=3)
    try:
        plan = store.pool
        assert plan == PoolPlan.for_pool(3, sqlite=store.dialect == "sqlite")
        assert store._write_limiter.total_tokens == plan.writers
        assert store._read_limiter.total_tokens == plan.readers
        if store.dialect == "postgresql":
            assert store._engine.pool.size() == 3  # type: ignore[attr-defined]
            assert store._engine.pool._max_overflow == plan.connections - 3  # type: ignore[attr-defined]
            assert store._engine.pool._pre_ping  # type: ignore[attr-defined]
        await store.initialize()
        await store.ping()
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db.example.com:5432/sw", "postgresql+psycopg://u:p@db.example.com:5432/sw"),
        ("postgres://u:p@db.example.com/sw", "postgresql+psycopg://u:p@db.example.com/sw"),
        ("postgresql+psycopg://u@db/sw?sslmode=require", "postgresql+psycopg://u@db/sw?sslmode=require"),
        ("sqlite:////var/lib/sw/sessionward.db", "sqlite:////var/lib/sw/sessionward.db"),
    ],
)
def test_configured_urls_map_to_the_sync_drivers(url: str, expected: str) -> None:
    assert engine_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u@db/sw", "sqlite://", "mysql://u@db/sw"])
def test_other_drivers_are_refused_naming_the_key(url: str) -> None:
    from sessionward.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        engine_url(url)
    assert caught.value.key == "storage.database_url"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARD_")}
    return subprocess.run(
        [sys.executable, "-m", "sessionward", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=environ,
    )


async def test_db_upgrade_applies_the_migrations_and_prints_the_revision(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "sessionward.toml"
    config.write_text(f'[storage]\ndatabase_url = "{database_url}"\npool_size = 2\n')
    for _ in range(2):
        done = await anyio.to_thread.run_sync(
            lambda: run_cli(tmp_path, "db", "upgrade", "--config", str(config), "--data-dir", str(tmp_path / "d"))
        )
        assert (done.returncode, done.stdout, done.stderr) == (0, f"database at revision {head_revision()}\n", "")
    assert on_database(database_url, differences) == []


async def test_db_upgrade_reports_an_unreachable_database(tmp_path: Path) -> None:
    config = tmp_path / "sessionward.toml"
    config.write_text('[storage]\ndatabase_url = "postgresql://sw:hunter2@127.0.0.1:1/sw?connect_timeout=2"\n')
    done = await anyio.to_thread.run_sync(lambda: run_cli(tmp_path, "db", "upgrade", "--config", str(config)))
    assert done.returncode == 1
    assert done.stderr.startswith("sessionward: database upgrade failed: OperationalError")
    assert "hunter2" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
