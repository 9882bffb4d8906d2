"""Endings in bounded batches (issue 11 item 1): a sweep round, or a user's sign-out everywhere, that ends more
sessions than one statement may name (65,535 parameters on PostgreSQL, 32,766 on SQLite) still ends every one,
audits each once and puts each in the revocation feed. The batch and chunk are lowered so the tests stay small."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from sessionward.config import PolicySettings
from sessionward.core.audit import hash_identifier, verify_chain
from sessionward.core.models import Session
from sessionward.stores.sql import SqlStore, sqlite_url
from tests.contract.conftest import REVOCATION_TTL, T_UNLOCK, TEST_KEKS
from tests.contract.test_store_contract import T0, a_session, a_user

pytestmark = pytest.mark.anyio
POLICY = PolicySettings("default")
COUNT = 40


async def many_sessions(store: SqlStore, count: int = COUNT, name: str = "alice") -> list[Session]:
    user = await a_user(store, name)
    made = []
    for n in range(count):
        session, refresh = a_session(user, n)
        await store.create_session(session, refresh, [], T0)
        made.append(session)
    return made


async def ended_in_trail(store: SqlStore, event: str) -> Counter[str]:
    records = [r async for r in store.audit_records()]
    assert verify_chain(records, await store.audit_head(), store.audit_keying()).ok
    return Counter(json.loads(r.data_json)["sid"] for r in records if r.event == event)


async def test_a_sweep_with_more_idle_sessions_than_a_batch_ends_them_all(store: SqlStore) -> None:
    store.sweep_batch, store.end_chunk = 7, 3
    idle = await many_sessions(store) + await many_sessions(store, 9, "bob")
    fresh, refresh = a_session(await a_user(store, "carol"), 1, at=T0 + POLICY.idle_timeout)
    await store.create_session(fresh, refresh, [], fresh.created_at)
    now = T0 + POLICY.idle_timeout + 1

    ended = await store.expire_sessions({"default": POLICY}, now)

    assert sorted(s.sid for s in ended) == sorted(s.sid for s in idle)  # the sweeper publishes this whole list
    assert len(ended) == len({s.sid for s in ended})
    for s in idle:
        stored = await store.get_session(s.sid)
        assert stored is not None and stored.state == "ended" and stored.end_reason == "idle_expired"
    assert await store.list_sessions(fresh.user_id) == [fresh]
    assert await ended_in_trail(store, "session.idle_expired") == Counter(hash_identifier(s.sid) for s in idle)
    feed = await store.revocations_since(0, now)
    assert sorted(e.subject for e in feed if e.kind == "sid") == sorted(s.sid for s in idle)
    assert await store.expire_sessions({"default": POLICY}, now) == []  # nothing left for the next round


async def test_a_sweep_of_exactly_one_full_batch_stops(store: SqlStore) -> None:
    store.sweep_batch = 7
    idle = await many_sessions(store, 7)
    ended = await store.expire_sessions({"default": POLICY}, T0 + POLICY.idle_timeout + 1)
    assert sorted(s.sid for s in ended) == sorted(s.sid for s in idle)


async def test_ending_more_sessions_than_a_chunk_ends_them_all(store: SqlStore) -> None:
    store.end_chunk = 3
    sessions = await many_sessions(store, 20)
    keep = sessions[5]
    ended = await store.end_user_sessions(sessions[0].user_id, "revoked", "admin:x", keep.sid, [], T0 + 1)
    assert sorted(s.sid for s in ended) == sorted(s.sid for s in sessions if s != keep)
    assert await store.list_sessions(keep.user_id) == [keep]
    assert await ended_in_trail(store, "session.revoked") == Counter(hash_identifier(s.sid) for s in ended)
    feed = await store.revocations_since(0, T0 + 1)
    assert sorted(e.subject for e in feed) == sorted(s.sid for s in ended)
    # Their tokens can no longer be refreshed: every ended session's successor is gone, whatever the chunking.
    for s in ended:
        token = await store.get_refresh(f"hash-{s.sid}")
        assert token is not None and token.successor is None


async def test_end_sessions_by_id_with_more_ids_than_a_chunk(store: SqlStore) -> None:
    store.end_chunk = 3
    sessions = await many_sessions(store, 11)
    sids = [s.sid for s in sessions] + [sessions[0].sid, "no-such-sid"]
    ended = await store.end_sessions(sids, "logout", "user", [], T0 + 1)
    assert sorted(s.sid for s in ended) == sorted(s.sid for s in sessions)  # once each
    assert len(ended) == len(sessions)
    assert await store.list_sessions(sessions[0].user_id) == []


async def test_a_database_with_a_small_parameter_limit_still_sweeps_and_signs_out(tmp_path: Path) -> None:
    """The failure itself, at a small scale: SQLite refuses a statement with more parameters than its limit
    (32,766 on a stock build; 30 here), as PostgreSQL refuses one with more than 65,535."""
    store = SqlStore(sqlite_url(tmp_path), revocation_ttl=REVOCATION_TTL)
    await store.initialize()
    await store.unlock(TEST_KEKS, T_UNLOCK)
    try:

        @event.listens_for(store._engine, "connect")
        def _small_limit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 30)

        store._engine.dispose()  # every writer connection from here on has the limit
        store.end_chunk = 20
        idle = await many_sessions(store)
        ended = await store.expire_sessions({"default": POLICY}, T0 + POLICY.idle_timeout + 1)
        assert sorted(s.sid for s in ended) == sorted(s.sid for s in idle)
        signed_in = await many_sessions(store, name="bob")
        out = await store.end_user_sessions(signed_in[0].user_id, "revoked", "admin:x", None, [], T0 + 2)
        assert sorted(s.sid for s in out) == sorted(s.sid for s in signed_in)
        out = await store.end_sessions([s.sid for s in await many_sessions(store, name="carol")], "logout", "u", [], T0)
        assert len(out) == COUNT
    finally:
        await store.close()
