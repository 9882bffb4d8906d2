"""The SQL engines (SQLite WAL by default) and the audit chain.

Each store verb is one synchronous function over a SQLAlchemy Connection, run whole in a worker thread: one
thread hop per transaction instead of one per statement (aiosqlite's model), which is what makes a refresh
cost a fraction of a millisecond. SQLite takes one writer at a time anyway, so writes go through a limiter of
one; reads use their own engine without the write lock.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, insert, select, update

from sessionward.core.audit import GENESIS_HASH, AuditEvent, AuditRecord, chain
from sessionward.stores import schema as t

T = TypeVar("T")
AUDIT_PAGE = 5000

# Built once: constructing a statement costs more than running it (the append is on every write path).
_HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash).with_for_update()
_INSERT_RECORD = insert(t.audit_log)
_MOVE_HEAD = (
    update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'sessionward.db'}"


def _sqlite_path(url: str) -> Path:
    return Path(url.split(":///", 1)[1])


def _prepare_sqlite_file(path: Path) -> None:
    """The database holds private keys: create it readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def _sqlite_engine(path: Path, writer: bool) -> Engine:
    """The writer's transactions start with BEGIN IMMEDIATE; the reader runs each query in autocommit, which
    SQLite makes a consistent snapshot of its own."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so the BEGIN below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    if writer:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the lock up front: no deadlock from two readers upgrading at once (CLI and server).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class SqlBase:
    """The engines, the transaction runners, and the audit chain every mutating verb appends to."""

    def __init__(self, url: str, revocation_ttl: float) -> None:
        """`revocation_ttl`: how long an ended session's id stays in the revocation feed (longest token life)."""
        self._revocation_ttl = revocation_ttl
        if url.startswith("sqlite"):
            path = _sqlite_path(url)
            _prepare_sqlite_file(path)
            self._engine = _sqlite_engine(path, writer=True)
            self._reader = _sqlite_engine(path, writer=False)
            self._write_limiter = anyio.CapacityLimiter(1)
        else:
            self._engine = create_engine(url, pool_pre_ping=True)
            self._reader = self._engine
            self._write_limiter = anyio.CapacityLimiter(16)
        self._read_limiter = anyio.CapacityLimiter(8)

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        """Runs `fn` in one write transaction, whole, in a worker thread."""

        def run() -> T:
            with self._engine.begin() as conn:
                return fn(conn)

        return await anyio.to_thread.run_sync(run, limiter=self._write_limiter)

    async def _read(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self._reader.connect() as conn:
                return fn(conn)

        return await anyio.to_thread.run_sync(run, limiter=self._read_limiter)

    async def initialize(self) -> None:
        await self._write(lambda conn: t.metadata.create_all(conn))

    async def ping(self) -> None:
        await self._read(lambda conn: conn.exec_driver_sql("SELECT 1").all())

    async def close(self) -> None:
        self._engine.dispose()
        self._reader.dispose()

    # -- audit ---------------------------------------------------------------------------------------------

    def _append(self, conn: Connection, events: Sequence[AuditEvent], at: float) -> None:
        if not events:
            return
        head = conn.execute(_HEAD).first()
        prev_seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
        records = chain(prev_seq, prev_hash, at, events)
        conn.execute(
            _INSERT_RECORD,
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
            conn.execute(insert(t.audit_head).values(id=1, seq=last.seq, hash=last.hash))
        else:
            conn.execute(_MOVE_HEAD, {"head_seq": last.seq, "head_hash": last.hash})

    async def append_audit(self, events: Sequence[AuditEvent], at: float) -> None:
        await self._write(lambda conn: self._append(conn, events, at))

    async def audit_records(self) -> AsyncIterator[AuditRecord]:
        after = 0
        while True:

            def page(conn: Connection, after: int = after) -> list[AuditRecord]:
                rows = conn.execute(
                    select(t.audit_log).where(t.audit_log.c.seq > after).order_by(t.audit_log.c.seq).limit(AUDIT_PAGE)
                ).all()
                return [AuditRecord(r.seq, r.at, r.event, r.data, r.prev_hash, r.hash) for r in rows]

            records = await self._read(page)
            for record in records:
                yield record
            if len(records) < AUDIT_PAGE:
                return
            after = records[-1].seq

    async def audit_head(self) -> tuple[int, str] | None:
        row = await self._read(lambda conn: conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).first())
        return (int(row[0]), str(row[1])) if row else None
