"""Alembic migrations of the durable store's schema (sessionward/stores/schema.py), run by the store itself:
every start upgrades to the newest revision, and `sessionward db upgrade` does only that.

No alembic.ini is needed: the script location is this package. Two processes upgrading at once are safe: the
whole upgrade is one transaction that first takes a lock (an advisory lock on PostgreSQL, the write lock of
BEGIN IMMEDIATE on SQLite), so the second one finds the work done.

A database made before migrations existed (by `metadata.create_all`, schema revision 0001) is adopted by
stamping it 0001 and upgrading from there.

To write a migration: change schema.py, add versions/NNNN_what.py by hand (or `alembic revision
--autogenerate` with a config whose script_location is `sessionward:migrations` and whose sqlalchemy.url names
a database at head), and the contract test that compares the migrated schema with schema.py keeps the two equal.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select

SCRIPT_LOCATION = "sessionward:migrations"
INITIAL = "0001"  # the schema create_all made before migrations existed

__all__ = ["INITIAL", "SCRIPT_LOCATION", "alembic_config", "current_revision", "head_revision", "upgrade"]


def alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic config for this package's scripts; env.py runs them on `conn`, inside its transaction."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _lock(conn: Connection) -> None:
    """Serializes upgrades of one schema until the transaction ends. SQLite: the store's writer began with
    BEGIN IMMEDIATE, which holds the database's write lock already."""
    if conn.dialect.name == "postgresql":
        key = func.hashtext(func.concat("sessionward.migrations:", func.coalesce(func.current_schema(), "")))
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def upgrade(conn: Connection) -> str:
    """Brings the schema to head inside `conn`'s transaction (the caller commits); returns the revision."""
    _lock(conn)
    config = alembic_config(conn)
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and "users" in tables:
        command.stamp(config, INITIAL)
    command.upgrade(config, "head")
    revision = current_revision(conn)
    assert revision is not None
    return revision
