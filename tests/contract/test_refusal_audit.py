"""Edge refusals reach every backend's audit trail batched: each in full while its budget lasts, in the trail
before its request is answered, the rest as one counted summary; the chain verifies."""

from __future__ import annotations

import json

import anyio
import pytest

from sessionward.clock import FakeClock
from sessionward.core.audit import AuditEvent, verify_chain
from sessionward.core.refusals import SUMMARY_EVENT
from sessionward.services.refusals import RefusalAudit
from sessionward.stores.sql import SqlStore

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


async def trail(store: SqlStore) -> list[tuple[str, float, dict[str, object]]]:
    return [(r.event, r.at, json.loads(r.data_json)) async for r in store.audit_records()]


async def test_groups_of_records_keep_their_own_times_in_one_chain(store: SqlStore) -> None:
    await store.append_audit_batches(
        [([AuditEvent("a", {"n": 1})], T0), ([AuditEvent("b", {}), AuditEvent("c", {})], T0 + 5)]
    )
    assert [(e, at) for e, at, _d in await trail(store)] == [("a", T0), ("b", T0 + 5), ("c", T0 + 5)]
    assert verify_chain([r async for r in store.audit_records()], await store.audit_head(), store.audit_keying()).ok


async def test_a_burst_is_written_in_few_transactions_and_each_record_before_its_caller_returns(
    store: SqlStore,
) -> None:
    clock = FakeClock(T0)
    refusals = RefusalAudit(store, clock)
    writes = 0
    append = store.append_audit_batches

    async def counting(batches: list[tuple[list[AuditEvent], float]]) -> None:
        nonlocal writes
        writes += 1
        await append(batches)

    store.append_audit_batches = counting  # type: ignore[method-assign, assignment]
    seen_in_trail: dict[int, bool] = {}

    async def refuse_and_look(n: int) -> None:
        event = AuditEvent("token.rejected", {"reason": "malformed", "ip": f"192.0.2.{n % 4}"})
        await refusals.record(event, clock.now())
        if n < 20:  # the first five of each address, written in full: in the trail by the time record returns
            seen_in_trail[n] = len([e for e, _at, _d in await trail(store) if e == "token.rejected"]) > n // 4

    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(refusals.run, stop, 0.05)
        await anyio.sleep(0.01)
        async with anyio.create_task_group() as burst:
            for n in range(200):
                burst.start_soon(refuse_and_look, n)
        rows = await trail(store)
        assert len([e for e, _at, _d in rows if e == "token.rejected"]) == 20  # 5 for each of 4 addresses
        assert seen_in_trail == dict.fromkeys(range(20), True)
        assert writes <= 3  # one transaction took what queued meanwhile (200 refusals, not 20 transactions)
        clock.advance(60)
        await anyio.sleep(0.2)  # a few flush intervals: the ended minute's summaries are written
        stop.set()
    summaries = [d for e, _at, d in await trail(store) if e == SUMMARY_EVENT]
    assert sorted(d["ip"] for d in summaries) == [f"192.0.2.{n}" for n in range(4)]
    assert {(d["count"], d["seen"]) for d in summaries} == {(45, 50)}
    assert verify_chain([r async for r in store.audit_records()], await store.audit_head(), store.audit_keying()).ok


async def test_without_the_background_writer_each_record_is_written_at_once(store: SqlStore) -> None:
    refusals = RefusalAudit(store, FakeClock(T0))
    for _ in range(7):
        await refusals.record(AuditEvent("csrf.rejected", {"reason": "no_origin", "ip": "192.0.2.1"}), T0)
    assert [e for e, _at, _d in await trail(store)] == ["csrf.rejected"] * 5
