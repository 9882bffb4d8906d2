"""Alembic's environment: runs the migrations on the connection the store hands over (the normal way, see
sessionward.migrations.upgrade), or, for Alembic's own command line, on an engine for `sqlalchemy.url`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from sessionward.stores._sql_base import engine_url
from sessionward.stores.schema import metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters a table by copying it: batch mode does that for every op.alter_column and the like.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        run_on(connection)  # inside the store's transaction, which holds the upgrade lock
        return
    url = engine_url(config.get_main_option("sqlalchemy.url") or "")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            run_on(conn)
    finally:
        engine.dispose()


main()
