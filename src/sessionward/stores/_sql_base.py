"""The SQLAlchemy engine (SQLite WAL by default, or PostgreSQL) and the audit chain."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sessionward.core.audit import GENESIS_HASH, AuditEvent, AuditRecord, chain
from sessionward.stores import schema as t


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'sessionward.db'}"


def _prepare_sqlite_file(url: str) -> None:
    """The database holds private keys: create it readable by its owner only."""
    path = Path(url.split(":///", 1)[1])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _sqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: no deadlock from two readers upgrading at once (CLI and server).
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlBase:
    """The engine and the audit chain that every mutating verb appends to in its own transaction."""

    def __init__(self, url: str, revocation_ttl: float) -> None:
        """`revocation_ttl`: how long an ended session's id stays in the revocation feed (longest token life)."""
        self._revocation_ttl = revocation_ttl
        self._is_sqlite = url.startswith("sqlite")
        if self._is_sqlite:
            _prepare_sqlite_file(url)
            self._engine = _sqlite_engine(url)
        else:
            self._engine = create_async_engine(url, pool_pre_ping=True)

    async def initialize(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def close(self) -> None:
        await self._engine.dispose()

    # -- audit ---------------------------------------------------------------------------------------------

    async def _append(self, conn: AsyncConnection, events: Sequence[AuditEvent], at: float) -> None:
        if not events:
            return
        head = (await conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash).with_for_update())).first()
        prev_seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
        records = chain(prev_seq, prev_hash, at, events)
        await conn.execute(
            insert(t.audit_log),
            [
                {
                    "seq": r.seq,
                    "at": r.at,
                    "event": r.event,
                    "data": r.data_json,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
                for r in records
            ],
        )
        last = records[-1]
        if head is None:
            await conn.execute(insert(t.audit_head).values(id=1, seq=last.seq, hash=last.hash))
        else:
            await conn.execute(update(t.audit_head).values(seq=last.seq, hash=last.hash))

    async def append_audit(self, events: Sequence[AuditEvent], at: float) -> None:
        async with self._engine.begin() as conn:
            await self._append(conn, events, at)

    async def audit_records(self) -> AsyncIterator[AuditRecord]:
        async with self._engine.connect() as conn:
            result = await conn.stream(select(t.audit_log).order_by(t.audit_log.c.seq))
            async for row in result:
                yield AuditRecord(row.seq, row.at, row.event, row.data, row.prev_hash, row.hash)

    async def audit_head(self) -> tuple[int, str] | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash))).first()
        return (int(row[0]), str(row[1])) if row else None
