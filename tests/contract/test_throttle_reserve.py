"""`EphemeralStore.reserve_event`, the atomic count-and-add behind every throttle: one contract, memory and Redis.

A burst of concurrent attempts (on Redis from two nodes' clients) never gets more events into a window than its
limit. Without a reachable Redis the Redis cases skip (and fail when CI is set), as in test_redis_store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from sessionward.stores.base import EphemeralStore
from sessionward.stores.memory import MemoryEphemeralStore
from sessionward.stores.redis import RedisEphemeralStore
from tests.contract.test_redis_store import redis_client, scratch_prefix

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EphemeralStore, EphemeralStore]]:
    """The store as two nodes see it: one in-process store twice, or two clients of one Redis."""
    if request.param == "memory":
        store = MemoryEphemeralStore()
        yield store, store
        return
    async with redis_client("node-a") as a, redis_client("node-b") as b, scratch_prefix(a) as p:
        yield RedisEphemeralStore(a, prefix=p), RedisEphemeralStore(b, prefix=p)


async def burst(stores: tuple[EphemeralStore, ...], n: int, key: str, at: float, limit: int) -> list[str | None]:
    got: list[str | None] = []

    async def one(store: EphemeralStore) -> None:
        got.append(await store.reserve_event(key, at, 60, limit))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, stores[i % len(stores)])
    return got


async def test_a_burst_of_thirty_reserves_exactly_the_limit(nodes: tuple[EphemeralStore, EphemeralStore]) -> None:
    a, _b = nodes
    got = await burst(nodes, 30, "login:acct:alice", T0, 5)
    ids = [g for g in got if g is not None]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert await a.events("login:acct:alice", T0, 60) == [T0] * 5
    # Full: one more is refused, and a refusal adds nothing.
    assert await a.reserve_event("login:acct:alice", T0 + 1, 60, 5) is None
    assert len(await a.events("login:acct:alice", T0 + 1, 60)) == 5


async def test_the_window_moves_and_its_lower_edge_is_open(nodes: tuple[EphemeralStore, EphemeralStore]) -> None:
    a, b = nodes
    assert await a.reserve_event("k", T0, 10, 2) is not None
    assert await b.reserve_event("k", T0 + 5, 10, 2) is not None
    assert await a.reserve_event("k", T0 + 9.9, 10, 2) is None
    # At T0 + 10 the first event is at now - window: out, so one fits again.
    assert await b.reserve_event("k", T0 + 10, 10, 2) is not None
    assert await a.reserve_event("k", T0 + 10, 10, 2) is None
    # Events of other keys and the plain add_event count where they are written.
    await a.add_event("other", T0 + 10, 10)
    assert await a.reserve_event("other", T0 + 10, 10, 1) is None


async def test_a_released_event_frees_its_place_once(nodes: tuple[EphemeralStore, EphemeralStore]) -> None:
    a, b = nodes
    first = await a.reserve_event("k", T0, 60, 2)
    assert first is not None and await a.reserve_event("k", T0, 60, 2) is not None
    assert await b.reserve_event("k", T0, 60, 2) is None
    await b.release_event("k", first)
    await b.release_event("k", first)  # twice: the second changes nothing
    assert await a.events("k", T0, 60) == [T0]
    assert await b.reserve_event("k", T0, 60, 2) is not None
    assert await a.reserve_event("k", T0, 60, 2) is None
    await a.clear("k")
    await a.release_event("k", first)  # after a clear: nothing happens
    await a.release_event("never-written", "1800000000.0")
    assert await a.events("k", T0, 60) == []


async def test_bursts_on_different_keys_do_not_share_a_window(nodes: tuple[EphemeralStore, EphemeralStore]) -> None:
    got_a = await burst(nodes, 12, "login:acctip:alice|192.0.2.1", T0, 3)
    got_b = await burst(nodes, 12, "login:acctip:alice|192.0.2.2", T0, 3)
    assert sum(g is not None for g in got_a) == 3
    assert sum(g is not None for g in got_b) == 3
