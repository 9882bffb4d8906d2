"""`EphemeralStore.remember_once`, the replay cache of DPoP proofs: one contract, memory and Redis.

Without a reachable Redis the Redis cases skip (and fail when CI is set), as in test_redis_store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from redis.asyncio import Redis

from sessionward.stores.base import EphemeralStore
from sessionward.stores.memory import MemoryEphemeralStore
from sessionward.stores.redis import RedisEphemeralStore
from tests.contract.test_redis_store import redis_client, scratch_prefix

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with redis_client() as client:
        yield client


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    async with scratch_prefix(redis) as p:
        yield p


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EphemeralStore]:
    if request.param == "memory":
        yield MemoryEphemeralStore()
        return
    async with redis_client() as client, scratch_prefix(client) as p:
        yield RedisEphemeralStore(client, prefix=p)


async def test_a_key_is_accepted_once_within_its_window(store: EphemeralStore) -> None:
    assert await store.remember_once("dpop:a", T0, 60) is True
    assert await store.remember_once("dpop:a", T0 + 1, 60) is False
    assert await store.remember_once("dpop:a", T0 + 59, 60) is False
    assert await store.remember_once("dpop:b", T0 + 1, 60) is True


async def test_remembering_is_independent_of_events_and_clear(store: EphemeralStore) -> None:
    await store.add_event("dpop:a", T0, 60)
    assert await store.remember_once("dpop:a", T0, 60) is True
    await store.clear("dpop:other")
    assert await store.remember_once("dpop:a", T0, 60) is False


async def test_concurrent_first_uses_admit_exactly_one(store: EphemeralStore) -> None:
    results: list[bool] = []

    async def one() -> None:
        results.append(await store.remember_once("dpop:race", T0, 60))

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(one)
    assert sorted(results) == [False] * 49 + [True]


async def test_a_key_is_forgotten_after_keep_for(store: EphemeralStore) -> None:
    assert await store.remember_once("dpop:short", T0, 0.2) is True
    await anyio.sleep(0.35)  # Redis expires on its own clock; memory compares the caller's times
    assert await store.remember_once("dpop:short", T0 + 0.35, 0.2) is True


async def test_redis_keys_live_under_the_prefix_and_expire(redis: Redis, prefix: str) -> None:
    store = RedisEphemeralStore(redis, prefix=prefix)
    assert await store.remember_once("dpop:k", T0, 0.5) is True
    assert 0 < await redis.pttl(f"{prefix}once:dpop:k") <= 500
