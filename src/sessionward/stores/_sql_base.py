"""The SQL engines (SQLite WAL by default, PostgreSQL through psycopg 3), the transaction runners, and the two
logs every write transaction appends to at its end: the audit chain and the revocation feed.

Each store verb is one synchronous function over a SQLAlchemy Connection, run whole in a worker thread: one
thread hop per transaction instead of one per statement (the async drivers' model), which is what makes a refresh
cost a fraction of a millisecond. SQLite takes one writer at a time anyway, so its writes go through a limiter of
one; PostgreSQL takes as many as the pool holds connections.

Lock order, the same in every transaction so that two of them never wait for each other on PostgreSQL (READ
COMMITTED): a user's row, then session rows (several at once: in sid order), then their refresh tokens, and last,
just before the commit, revocation_head and then audit_head. The last two serialize every writer for the length
of a commit only, which is why the logs are written at the end (`_append` and `_revoke` only queue).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, Table, bindparam, create_engine, event, insert, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url

from sessionward import migrations
from sessionward.core.audit import AuditEvent, AuditRecord, chain
from sessionward.crypto.kek import KekError, KekProvider
from sessionward.errors import ConfigError
from sessionward.stores import schema as t
from sessionward.stores._sql_secrets import ServerSecret

T = TypeVar("T")
AUDIT_PAGE = 5000
DEFAULT_POOL_SIZE = 10
# UPDATE ... RETURNING (and INSERT ... ON CONFLICT with it) came in SQLite 3.35.
MIN_SQLITE_VERSION = (3, 35, 0)

# Built once: constructing a statement costs more than running it (the appends are on every write path).
_AUDIT_HEAD = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1).with_for_update()
_INSERT_RECORD = insert(t.audit_log)
_MOVE_AUDIT_HEAD = (
    update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
_FEED_HEAD = select(t.revocation_head.c.seq).where(t.revocation_head.c.id == 1).with_for_update()
_INSERT_REVOCATION = insert(t.revocations)
_MOVE_FEED_HEAD = update(t.revocation_head).where(t.revocation_head.c.id == 1).values(seq=bindparam("head_seq"))

_PENDING = "sessionward.pending"


@dataclass(slots=True)
class _Pending:
    """What a transaction has queued for the logs; written by `_write_logs` just before the commit."""

    audit: list[tuple[Sequence[AuditEvent], float]] = field(default_factory=list)
    revocations: list[dict[str, Any]] = field(default_factory=list)
    # The audit key this transaction chains with when it is the one that makes the server secret.
    audit_key: bytes | None = None


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'sessionward.db'}"


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for a configured database URL: postgresql:// and postgres:// use psycopg 3 (sync)."""
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite") and parsed.database:
        return parsed
    raise ConfigError(
        "storage.database_url", "must be a postgresql:// (psycopg 3) or sqlite:///PATH URL, or empty for SQLite"
    )


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """How many transactions run at once and the connections they need: every worker thread holds one
    connection for its whole transaction, so the pool holds exactly as many as the two limiters let run and no
    thread ever waits on the pool while holding its place in a limiter."""

    writers: int
    readers: int

    @classmethod
    def for_pool(cls, pool_size: int, sqlite: bool) -> PoolPlan:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        # SQLite takes one writer at a time; on PostgreSQL writes (every refresh) get two thirds: 16 and 8 at 24.
        writers = 1 if sqlite else max(1, pool_size * 2 // 3)
        return cls(writers, max(1, pool_size - writers))

    @property
    def connections(self) -> int:
        return self.writers + self.readers


def _prepare_sqlite_file(path: Path) -> None:
    """The database holds private keys: create it readable by its owner only.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's included, and another process could then delete the write-ahead log under
    a live connection of ours."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
    else:
        os.close(fd)


def _switch_to_wal(cur: Any) -> None:
    """Switching a fresh file to WAL needs it to itself, and SQLite answers "locked" at once (no busy wait) while
    another starting connection holds it: retry briefly. A file already in WAL mode needs nothing."""
    deadline = time.monotonic() + 30.0
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: URL, writer: bool, pool_size: int) -> Engine:
    """The writer's transactions start with BEGIN IMMEDIATE; the reader runs each query in autocommit, which
    SQLite makes a consistent snapshot of its own."""
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30.0},
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so the BEGIN below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    if writer:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Writers take the lock up front: no deadlock from two readers upgrading at once (CLI and server).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgresql_engine(url: URL, connections: int, pool_size: int) -> Engine:
    """READ COMMITTED whatever the server's default: the verbs lock what they decide on, then read it fresh."""
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in url.query:
        connect_args["application_name"] = "sessionward"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max(0, connections - pool_size),
        pool_pre_ping=True,
        pool_timeout=60,
        isolation_level="READ COMMITTED",
        connect_args=connect_args,
    )


class SqlBase:
    """The engines, the transaction runners, and the logs every mutating verb appends to."""

    def __init__(self, url: str, revocation_ttl: float, *, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        """`revocation_ttl`: how long an ended session's id stays in the revocation feed (longest token life).
        `pool_size`: connections this store keeps to the database ([storage] pool_size), split between
        concurrent write and read transactions (see PoolPlan)."""
        self._revocation_ttl = revocation_ttl
        target = engine_url(url)
        self.dialect = target.get_backend_name()
        self.pool = PoolPlan.for_pool(pool_size, sqlite=self.dialect == "sqlite")
        if self.dialect == "sqlite":
            assert target.database is not None
            if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
                raise ConfigError(
                    "storage.database_url",
                    f"SQLite {sqlite3.sqlite_version} is too old: sessionward needs "
                    f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer (for RETURNING), or use PostgreSQL",
                )
            _prepare_sqlite_file(Path(target.database))
            self._engine = _sqlite_engine(target, writer=True, pool_size=self.pool.writers)
            self._reader = _sqlite_engine(target, writer=False, pool_size=self.pool.readers)
        else:
            self._engine = _postgresql_engine(target, self.pool.connections, pool_size)
            # Reads share the pool in autocommit: one round trip per query, no BEGIN/ROLLBACK around it.
            self._reader = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_limiter = anyio.CapacityLimiter(self.pool.writers)
        self._read_limiter = anyio.CapacityLimiter(self.pool.readers)
        # Secrets at rest (`unlock`): the KEKs, the server secret, and the audit chain's key derived from it.
        self._keks: KekProvider | None = None
        self._server_secret: ServerSecret | None = None
        self._audit_key: bytes | None = None
        # A store that was not unlocked writes no audit record into a keyed chain (it would break it).
        self._keyed_trail = False

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        """Runs `fn` in one write transaction, whole, in a worker thread, and writes what it queued for the logs
        last, just before the commit."""

        def run() -> T:
            with self._engine.begin() as conn:
                conn.info.pop(_PENDING, None)
                try:
                    result = fn(conn)
                    self._write_logs(conn)
                finally:
                    # What a failed transaction queued must not reach the next one on this connection.
                    conn.info.pop(_PENDING, None)
                return result

        return await anyio.to_thread.run_sync(run, limiter=self._write_limiter)

    def _insert(self, table: Table) -> pg_dialect.Insert | sqlite_dialect.Insert:
        """The dialect's own INSERT, for ON CONFLICT: an upsert or an insert-if-absent is one statement, with no
        window between a check and the insert for another transaction to win (both dialects spell it alike)."""
        if self.dialect == "sqlite":
            return sqlite_dialect.insert(table)
        return pg_dialect.insert(table)

    async def _read(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self._reader.connect() as conn:
                return fn(conn)

        return await anyio.to_thread.run_sync(run, limiter=self._read_limiter)

    async def initialize(self) -> None:
        """Brings the schema to the newest migration (every start does; two at once are safe)."""
        await self.upgrade()

    async def upgrade(self) -> str:
        """Applies the migrations the database lacks, in one transaction; returns its revision."""
        return await self._write(migrations.upgrade)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.exec_driver_sql("SELECT 1").all())

    async def close(self) -> None:
        self._engine.dispose()
        if self.dialect == "sqlite":  # on PostgreSQL the reader shares the engine's pool
            self._reader.dispose()

    # -- the logs ------------------------------------------------------------------------------------------

    @staticmethod
    def _pending(conn: Connection) -> _Pending:
        pending = conn.info.get(_PENDING)
        if pending is None:
            pending = conn.info[_PENDING] = _Pending()
        assert isinstance(pending, _Pending)
        return pending

    def _append(self, conn: Connection, events: Sequence[AuditEvent], at: float) -> None:
        """Queues audit records; they are chained when the transaction ends, in the order queued."""
        if events:
            self._pending(conn).audit.append((tuple(events), at))

    def _revoke(self, conn: Connection, kind: str, subject: str, value: float, at: float) -> None:
        """Queues a revocation-feed entry; it gets its seq when the transaction ends (commit order)."""
        self._pending(conn).revocations.append({"kind": kind, "subject": subject, "value": value, "at": at})

    def _write_logs(self, conn: Connection) -> None:
        """Numbers the queued feed entries and chains the queued audit records. Each log's head row stays locked
        until the commit, so numbers are handed out in commit order: whoever sees N sees everything before N."""
        pending: _Pending | None = conn.info.pop(_PENDING, None)
        if pending is None:
            return
        if pending.revocations:
            seq = conn.execute(_FEED_HEAD).scalar_one_or_none()
            if seq is None:
                raise RuntimeError("the revocation feed has no head row: run `sessionward db upgrade`")
            rows = [{**entry, "seq": seq + n} for n, entry in enumerate(pending.revocations, 1)]
            conn.execute(_INSERT_REVOCATION, rows)
            conn.execute(_MOVE_FEED_HEAD, {"head_seq": rows[-1]["seq"]})
        if pending.audit:
            key = pending.audit_key or self._audit_key
            if key is None and self._keyed_trail:
                raise KekError("the store was not unlocked: it cannot extend the keyed audit chain")
            head = conn.execute(_AUDIT_HEAD).first()
            if head is None:
                raise RuntimeError("the audit trail has no head row: run `sessionward db upgrade`")
            prev_seq, prev_hash = int(head[0]), str(head[1])
            records: list[AuditRecord] = []
            for events, at in pending.audit:
                records += chain(prev_seq, prev_hash, at, events, key)
                prev_seq, prev_hash = records[-1].seq, records[-1].hash
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
            conn.execute(_MOVE_AUDIT_HEAD, {"head_seq": prev_seq, "head_hash": prev_hash})

    async def append_audit(self, events: Sequence[AuditEvent], at: float) -> None:
        await self._write(lambda conn: self._append(conn, events, at))

    async def append_audit_batches(self, batches: Sequence[tuple[Sequence[AuditEvent], float]]) -> None:
        """Several groups of records, each with its own time, in one transaction (services/refusals.py)."""

        def append(conn: Connection) -> None:
            for events, at in batches:
                self._append(conn, events, at)

        await self._write(append)

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
        """The newest record's (seq, hash); (0, GENESIS_HASH) while the trail is empty."""
        row = await self._read(lambda conn: conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)).first())
        return (int(row[0]), str(row[1])) if row else None
