"""Usernames are one account whatever their case (NFKC + case folding), on every backend: a second `alice` is a
conflict, any case form finds the user, and migration 0009 folds existing names or stops naming the users whose
names already clash."""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, update

from sessionward.core.audit import AuditEvent
from sessionward.core.models import User
from sessionward.errors import Conflict
from sessionward.migrations import alembic_config
from sessionward.stores import schema as t
from sessionward.stores.sql import SqlStore
from tests.contract.conftest import REVOCATION_TTL
from tests.contract.test_migrations import differences, on_database, run_cli
from tests.contract.test_store_contract import T0, a_user

pytestmark = pytest.mark.anyio
FULL_WIDTH_ALICE = "\uff21\uff4c\uff49\uff43\uff45"


async def test_a_name_differing_only_in_case_is_taken(store: SqlStore) -> None:
    alice = await a_user(store, "alice")
    for other in ("Alice", "ALICE", FULL_WIDTH_ALICE):
        with pytest.raises(Conflict, match="whatever their case"):
            await a_user(store, other)
    await a_user(store, "alice2")  # a different name is fine
    assert [u.username for u in await store.list_users()] == ["alice", "alice2"]
    for typed in ("alice", "Alice", "ALICE", FULL_WIDTH_ALICE):
        found = await store.get_user_by_name(typed)
        assert found is not None and found.user_id == alice.user_id and found.username == "alice"
    assert await store.get_user_by_name("alic") is None


async def test_the_kelvin_sign_and_sharp_s_fold_like_their_letters(store: SqlStore) -> None:
    strasse_user = await a_user(store, "strasse")
    found = await store.get_user_by_name("STRASSE")
    assert found is not None and found.user_id == strasse_user.user_id
    with pytest.raises(Conflict):
        await a_user(store, "stra\u00dfe")  # ß folds to ss
    await a_user(store, "kate")
    with pytest.raises(Conflict):
        await a_user(store, "\u212aate")  # KELVIN SIGN folds to k


def _before_0009() -> str:
    previous = ScriptDirectory.from_config(alembic_config()).get_revision("0009").down_revision
    assert isinstance(previous, str)
    return previous


def _legacy_users(database_url: str, names: list[str]) -> dict[str, str]:
    """A database at the revision before 0009 holding users with these names; name -> user_id."""
    ids = {name: str(uuid.uuid4()) for name in names}

    def build(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), _before_0009())
        for name, user_id in ids.items():
            values = {"user_id": user_id, "username": name, "password_hash": "x", "is_admin": False}
            # Only the columns named here are inserted: the legacy table has no username_folded yet.
            conn.execute(insert(t.users).values(**values, created_at=T0, epoch=0.0))

    on_database(database_url, build)
    return ids


async def test_the_migration_folds_existing_names(database_url: str) -> None:
    ids = _legacy_users(database_url, ["Bob", "carol"])
    store = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    try:
        await store.initialize()
        assert on_database(database_url, differences) == []
        found = await store.get_user_by_name("bob")
        assert found is not None and (found.user_id, found.username) == (ids["Bob"], "Bob")
        with pytest.raises(Conflict):
            await store.create_user(User(str(uuid.uuid4()), "BOB", "x", False, T0), [AuditEvent("x", {})], T0)
    finally:
        await store.close()


async def test_the_migration_stops_naming_the_users_whose_names_clash(database_url: str) -> None:
    ids = _legacy_users(database_url, ["Alice", "alice", "dave", "Eve", "EVE"])
    store = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    try:
        with pytest.raises(Conflict) as refused:
            await store.initialize()
        message = refused.value.description
        for name in ("Alice", "alice", "Eve", "EVE"):
            assert f"{name!r} (user_id {ids[name]})" in message
        assert "dave" not in message and "nothing was changed" in message
        # Nothing changed: still at the earlier revision, without the new column.
        columns = on_database(database_url, lambda conn: {c["name"] for c in inspect(conn).get_columns("users")})
        assert "username_folded" not in columns
        # The operator renames as told; the next start migrates.
        for name in ("alice", "EVE"):
            on_database(
                database_url,
                lambda conn, n=name: conn.execute(
                    update(t.users).where(t.users.c.user_id == ids[n]).values(username=f"{n.lower()}2")
                ),
            )
        await store.initialize()
        assert on_database(database_url, differences) == []
        rows = on_database(database_url, lambda conn: conn.execute(select(t.users.c.username_folded)).scalars().all())
        assert sorted(rows) == ["alice", "alice2", "dave", "eve", "eve2"]
    finally:
        await store.close()


async def test_db_upgrade_reports_the_clash_in_one_line(database_url: str, tmp_path: Path) -> None:
    ids = _legacy_users(database_url, ["Alice", "alice"])
    config = tmp_path / "sessionward.toml"
    config.write_text(f'[storage]\ndatabase_url = "{database_url}"\npool_size = 2\n')
    done = await anyio.to_thread.run_sync(
        lambda: run_cli(tmp_path, "db", "upgrade", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert f"'Alice' (user_id {ids['Alice']})" in done.stderr and f"'alice' (user_id {ids['alice']})" in done.stderr
