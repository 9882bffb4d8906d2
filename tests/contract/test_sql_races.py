"""Two nodes on one database: the races the store decides, on every backend (on PostgreSQL under READ COMMITTED,
with each node's transactions truly concurrent in its worker threads)."""

from __future__ import annotations

import json
import threading
import time

import anyio
import anyio.to_thread
import pytest
from sqlalchemy import Connection, create_engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from sessionward.config import PolicySettings
from sessionward.core.audit import AuditEvent, verify_chain
from sessionward.core.models import RefreshToken, Revocation, Session
from sessionward.stores import schema as t
from sessionward.stores.base import RefreshPlan
from sessionward.stores.sql import SqlStore, engine_url
from tests.contract.test_store_contract import T0, a_session, a_user

pytestmark = pytest.mark.anyio


async def test_two_nodes_rotating_one_token_one_wins_the_other_sees_it_rotated(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    user = await a_user(a)
    session, refresh = a_session(user, 1)
    await a.create_session(session, refresh, [], T0)
    current = refresh.token_hash
    seen: list[tuple[str, str, bytes | None]] = []

    def plan(token: RefreshToken | None, node: str, round_: int) -> RefreshPlan:
        assert token is not None
        seen.append((node, token.state, token.successor))
        if token.state != "current":
            return RefreshPlan(audit=[AuditEvent("refresh.replayed", {"node": node})])
        time.sleep(0.02)  # hold the rows while the other node's transaction arrives
        nxt = RefreshToken(f"gen-{round_}-{node}", session.sid, T0 + round_)
        return RefreshPlan(audit=[AuditEvent("refresh", {"node": node})], rotate_to=nxt, successor=node.encode())

    for round_ in range(10):
        seen.clear()
        async with anyio.create_task_group() as tg:
            for node, store in (("a", a), ("b", b)):
                tg.start_soon(
                    store.refresh,
                    current,
                    session.family,
                    lambda tk, _s, node=node, round_=round_: plan(tk, node, round_),
                    T0 + round_,
                )
        states = sorted(state for _, state, _ in seen)
        assert states == ["current", "rotated"], seen
        winner = next(node for node, state, _ in seen if state == "current")
        loser_saw = next(successor for _, state, successor in seen if state == "rotated")
        assert loser_saw == winner.encode()  # the winner's successor, committed before the loser read the token
        current = f"gen-{round_}-{winner}"
        now_current = await b.get_refresh(current)
        assert now_current is not None
        assert (now_current.sid, now_current.state) == (session.sid, "current")
    records = [r async for r in a.audit_records()]
    assert verify_chain(records, await b.audit_head(), b.audit_keying()).ok


async def test_a_session_ended_by_one_node_is_never_revived_by_the_other(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    user = await a_user(a)
    session, refresh = a_session(user, 1)
    await a.create_session(session, refresh, [], T0)
    stale = await a.get_refresh_and_session(refresh.token_hash)
    assert stale is not None
    assert stale[1].state == "active"
    assert [s.sid for s in await b.end_sessions([session.sid], "revoked", "admin", [], T0 + 1)] == [session.sid]
    # Planned from the stale read, blindly: rotate and stay active. The store writes the rotation, never the state.
    blind = RefreshPlan(audit=[], rotate_to=RefreshToken("after-end", session.sid, T0 + 2), successor=b"x")
    handed: list[Session | None] = []
    await a.refresh(refresh.token_hash, None, lambda _t, s: handed.append(s) or blind, T0 + 2)
    assert handed[0] is not None
    assert handed[0].state == "ended"  # the plan is handed the committed row, not the stale one
    for store in (a, b):
        stored = await store.get_session(session.sid)
        assert stored is not None
        assert (stored.state, stored.end_reason, stored.last_active_at) == ("ended", "revoked", T0)
        assert await store.list_sessions(user.user_id) == []


async def test_refreshes_and_endings_racing_on_two_nodes_end_every_session_without_deadlock(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    """Node A refreshes each session while node B ends it (one by one, and all of the user's at once): the rows
    are taken in one order everywhere, so neither waits for the other for good, and every session stays ended."""
    a, b = two_nodes
    user = await a_user(a)
    pairs = [a_session(user, n) for n in range(12)]
    for session, refresh in pairs:
        await a.create_session(session, refresh, [], T0)
    saw: dict[str, list[str]] = {}

    def blind_rotation(session: Session) -> RefreshPlan:
        nxt = RefreshToken(f"next-{session.sid}", session.sid, T0 + 1)
        return RefreshPlan(audit=[AuditEvent("refresh", {})], rotate_to=nxt, successor=b"s")

    async def refresh_one(session: Session, refresh: RefreshToken) -> None:
        def plan(_t: RefreshToken | None, s: Session | None) -> RefreshPlan:
            assert s is not None
            saw.setdefault(s.sid, []).append(s.state)
            return blind_rotation(s)

        await a.refresh(refresh.token_hash, None, plan, T0 + 1)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for session, refresh in pairs[:6]:
                tg.start_soon(refresh_one, session, refresh)
                tg.start_soon(b.end_sessions, [session.sid], "logout", "user", [AuditEvent("logout", {})], T0 + 1)
            for session, refresh in pairs[6:]:
                tg.start_soon(refresh_one, session, refresh)
            tg.start_soon(b.end_user_sessions, user.user_id, "revoked", "admin", None, [], T0 + 1)
            # A sweep racing along (nothing has timed out: it only reads and takes no row).
            tg.start_soon(a.expire_sessions, {"default": PolicySettings("default")}, T0 + 1)
    assert await a.list_sessions(user.user_id) == []
    for session, _ in pairs:
        stored = await b.get_session(session.sid)
        assert stored is not None
        assert stored.state == "ended"
    feed = await a.revocations_since(0, T0 + 1)
    assert sorted(e.subject for e in feed) == sorted(s.sid for s, _ in pairs)  # each ended once, each in the feed
    assert [e.seq for e in feed] == list(range(feed[0].seq, feed[0].seq + len(feed)))
    assert verify_chain([r async for r in b.audit_records()], await a.audit_head(), a.audit_keying()).ok


async def test_concurrent_audit_appends_from_two_nodes_keep_one_chain(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = two_nodes

    async def append(store: SqlStore, node: str, i: int) -> None:
        await store.append_audit([AuditEvent("login.failed", {"node": node, "i": i, "k": k}) for k in range(3)], T0)

    async with anyio.create_task_group() as tg:
        for i in range(25):
            tg.start_soon(append, a, "a", i)
            tg.start_soon(append, b, "b", i)
    records = [r async for r in b.audit_records()]
    report = verify_chain(records, await a.audit_head(), a.audit_keying())
    assert report.ok, report
    assert report.checked == len(records) == 150
    # Each append's records are contiguous: one transaction's batch is never interleaved with another's.
    data = [json.loads(r.data_json) for r in records]
    batches = [(d["node"], d["i"]) for d in data[::3]]
    assert sorted(batches) == sorted((node, i) for node in "ab" for i in range(25))
    assert [d["k"] for d in data] == [0, 1, 2] * 50
    assert all(len({(d["node"], d["i"]) for d in data[n : n + 3]}) == 1 for n in range(0, 150, 3))


async def test_a_feed_entry_committed_late_is_not_skipped(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    """Transaction A writes a feed entry and has not committed; B ends a session meanwhile; a node polls between.
    On PostgreSQL a SERIAL seq would give A seq 1 and B seq 2, B would commit first, the poll would move the
    cursor to 2, and A's entry (1) would never be handed out. Numbered in commit order, none is missed."""
    a, b = two_nodes
    user = await a_user(a)
    session, refresh = a_session(user, 1)
    await a.create_session(session, refresh, [], T0)
    a_numbered, release_a = threading.Event(), threading.Event()

    def transaction_a() -> None:
        # The store's own write path, held open between writing its entry and committing (white box). Only a
        # feed entry, no audit record: the audit chain's head must not be what keeps the feed in order.
        with a._engine.begin() as conn:
            a._revoke(conn, "epoch", user.user_id, T0 + 1, T0 + 1)
            a._write_logs(conn)
            a_numbered.set()
            assert release_a.wait(10)

    seen: list[Revocation] = []
    cursor = 0

    async def poll() -> None:
        nonlocal cursor
        entries = await b.revocations_since(cursor, T0 + 1)
        seen.extend(entries)
        cursor = max([cursor, *(e.seq for e in entries)])

    b_done = anyio.Event()

    async def transaction_b() -> None:
        await b.end_sessions([session.sid], "logout", "user", [], T0 + 1)
        b_done.set()

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, transaction_a)
            assert await anyio.to_thread.run_sync(a_numbered.wait, 10)
            tg.start_soon(transaction_b)
            with anyio.move_on_after(0.3):
                await b_done.wait()  # B commits now only if it can commit before A (the SERIAL bug)
            await poll()
            release_a.set()
            await b_done.wait()
        await poll()
    assert sorted((e.kind, e.subject) for e in seen) == [("epoch", user.user_id), ("sid", session.sid)]


async def test_refresh_takes_the_session_row_before_the_token_row(database_url: str, store: SqlStore) -> None:
    """The lock order that keeps refresh and ending (session, then tokens) from deadlocking on PostgreSQL:
    while a refresh waits for a token row held elsewhere, it already holds the session's row."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time")
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    engine = create_engine(engine_url(database_url), poolclass=NullPool)

    def session_row_is_held(probe: Connection) -> bool:
        try:
            probe.execute(select(t.sessions.c.sid).where(t.sessions.c.sid == session.sid).with_for_update(nowait=True))
        except OperationalError:  # lock_not_available
            return True
        finally:
            probe.rollback()
        return False

    held = False
    try:
        with engine.connect() as holder, engine.connect() as probe, anyio.fail_after(20):
            holder.execute(
                select(t.refresh_tokens).where(t.refresh_tokens.c.token_hash == refresh.token_hash).with_for_update()
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(store.refresh, refresh.token_hash, None, lambda _t, _s: RefreshPlan([]), T0)
                try:
                    for _ in range(250):  # until the refresh waits for the token row
                        await anyio.sleep(0.02)
                        if session_row_is_held(probe):
                            held = True
                            break
                finally:
                    holder.rollback()  # lets the refresh finish whatever happened
    finally:
        engine.dispose()
    assert held


async def test_the_sweeper_does_not_end_a_session_refreshed_while_it_waited(database_url: str, store: SqlStore) -> None:
    """A refresh in flight holds its session's row and has touched it; the sweeper, which found the session idle
    by its old last_active_at, must see the refresh once it commits and leave the session alone."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite has no row locks: one writer at a time")
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    policy = PolicySettings("default")
    now = T0 + policy.idle_timeout + 1  # idle by the stored last_active_at
    ended: list[Session] = []

    async def sweep() -> None:
        ended.extend(await store.expire_sessions({"default": policy}, now))

    engine = create_engine(engine_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as refresher, anyio.fail_after(20):
            touch = update(t.sessions).where(t.sessions.c.sid == session.sid).values(last_active_at=now)
            refresher.execute(touch)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sweep)
                await anyio.sleep(0.3)  # the sweep reaches the row and waits for it
                refresher.commit()
    finally:
        engine.dispose()
    assert ended == []
    stored = await store.get_session(session.sid)
    assert stored is not None and stored.state == "active"
