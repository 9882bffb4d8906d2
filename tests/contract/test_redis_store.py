"""The Redis side of a multi-node deployment, against the real local redis-server.

The ephemeral-store behaviour runs against MemoryEphemeralStore too: one contract, two backends. Without a
reachable Redis the Redis cases skip (and fail when CI is set). Each test uses its own key prefix, channel and
client name, in db 14 (pub/sub channels are server-wide, hence the unique channel names).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import anyio
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from sessionward.core.models import Revocation
from sessionward.stores import _redis_channel
from sessionward.stores._redis_channel import MalformedMessage, decode, encode
from sessionward.stores.base import EphemeralStore
from sessionward.stores.memory import MemoryEphemeralStore
from sessionward.stores.redis import MAX_EVENTS_PER_KEY, RedisEphemeralStore, RedisRevocationChannel, connect_redis

pytestmark = pytest.mark.anyio
REDIS_URL = os.environ.get("SESSIONWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
T0 = 1_800_000_000.0
ENTRIES = [Revocation(7, "sid", "sid-one", T0 + 305.0), Revocation(8, "epoch", "user-one", T0 + 0.125)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def redis_client(name: str = "") -> AsyncIterator[Redis]:
    url = f"{REDIS_URL}?client_name={name}" if name else REDIS_URL
    try:
        client = await connect_redis(url, 8)
    except (RedisError, OSError) as exc:
        reason = f"Redis at {REDIS_URL} is unreachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI needs it")
        pytest.skip(reason)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    async with redis_client() as client:
        yield client


@asynccontextmanager
async def scratch_prefix(client: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own, its keys deleted afterwards (SCAN: fine in a test, never in the store)."""
    prefix = f"sessionward-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)


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


# -- the ephemeral-store contract, both backends ---------------------------------------------------------------


async def test_window_is_open_below_and_closed_above(store: EphemeralStore) -> None:
    for t in (T0, T0 + 1, T0 + 2):
        await store.add_event("k", t, 60)
    assert await store.events("k", T0 + 2, 2) == [T0 + 1, T0 + 2]  # T0 == now - window: out
    assert await store.events("k", T0 + 1, 2) == [T0, T0 + 1]  # T0 + 2 > now: out
    assert await store.events("k", T0 + 2, 2.000001) == [T0, T0 + 1, T0 + 2]
    assert await store.events("k", T0 - 0.5, 10) == []
    assert await store.events("missing", T0, 10) == []


async def test_times_come_back_exactly(store: EphemeralStore) -> None:
    times = [T0 + 0.1, T0 + 1 / 3, T0 + 0.123456789]
    for t in times:
        await store.add_event("k", t, 60)
    assert sorted(await store.events("k", T0 + 1, 1.0)) == sorted(times)


async def test_keys_are_independent_and_clear_removes_one(store: EphemeralStore) -> None:
    await store.add_event("a", T0, 60)
    await store.add_event("b", T0, 60)
    await store.clear("a")
    await store.clear("never-written")
    assert await store.events("a", T0, 10) == []
    assert await store.events("b", T0, 10) == [T0]
    await store.add_event("a", T0 + 1, 60)
    assert await store.events("a", T0 + 1, 10) == [T0 + 1]


async def test_a_key_keeps_only_its_newest_events(store: EphemeralStore) -> None:
    extra = 76
    for i in range(MAX_EVENTS_PER_KEY + extra):
        await store.add_event("k", T0 + i, 3600)
    got = await store.events("k", T0 + 3000, 3000)
    assert len(got) == MAX_EVENTS_PER_KEY
    assert got[0] == T0 + extra


async def test_concurrent_events_at_one_instant_all_count(store: EphemeralStore) -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(store.add_event, "k", T0, 60)
    assert await store.events("k", T0, 1) == [T0] * 50


# -- Redis specifics ----------------------------------------------------------------------------------------------


async def test_keys_live_under_the_prefix_and_expire_after_keep_for(redis: Redis, prefix: str) -> None:
    store = RedisEphemeralStore(redis, prefix=prefix)
    await store.add_event("k", T0, 0.3)
    assert 0 < await redis.pttl(f"{prefix}k") <= 300
    await anyio.sleep(0.4)
    assert await redis.exists(f"{prefix}k") == 0
    assert await store.events("k", T0, 10) == []


async def test_the_longest_keep_for_wins(redis: Redis, prefix: str) -> None:
    store = RedisEphemeralStore(redis, prefix=prefix)
    await store.add_event("k", T0, 600)
    await store.add_event("k", T0 + 1, 5)
    assert await redis.pttl(f"{prefix}k") > 590_000


async def test_events_past_keep_for_are_dropped_at_the_next_write(redis: Redis, prefix: str) -> None:
    store = RedisEphemeralStore(redis, prefix=prefix)
    await store.add_event("k", T0, 10)
    await store.add_event("k", T0 + 10, 10)  # T0 + 10 - 10 == T0: past keeping
    assert await redis.zcard(f"{prefix}k") == 1


# -- the codec ----------------------------------------------------------------------------------------------------


def test_message_format_round_trips() -> None:
    data = encode(ENTRIES)
    assert data == (
        b'{"v":1,"entries":[{"kind":"sid","subject":"sid-one","value":1800000305.0,"seq":7},'
        b'{"kind":"epoch","subject":"user-one","value":1800000000.125,"seq":8}]}'
    )
    assert decode(data) == ENTRIES
    assert decode(b'{"v":1,"entries":[],"later":"ignored"}') == []


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe",
        b"not json",
        b"[]",
        b'{"v":2,"entries":[]}',
        b'{"v":true,"entries":[]}',
        b'{"v":1}',
        b'{"v":1,"entries":[1]}',
        b'{"v":1,"entries":[{"kind":"user","subject":"s","value":1,"seq":1}]}',
        b'{"v":1,"entries":[{"kind":"sid","subject":"","value":1,"seq":1}]}',
        b'{"v":1,"entries":[{"kind":"sid","subject":"s","value":true,"seq":1}]}',
        b'{"v":1,"entries":[{"kind":"sid","subject":"s","value":NaN,"seq":1}]}',
        b'{"v":1,"entries":[{"kind":"sid","subject":"s","value":1,"seq":-1}]}',
        b'{"v":1,"entries":[{"kind":"sid","subject":"s","value":1,"seq":1.5}]}',
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(data)


# -- pub/sub between nodes ----------------------------------------------------------------------------------------


@dataclass
class Node:
    channel: RedisRevocationChannel
    received: list[Revocation] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)
    stop: anyio.Event = field(default_factory=anyio.Event)
    fail_once: bool = False

    def deliver(self, entries: list[Revocation]) -> None:
        self.received.extend(entries)
        if self.fail_once:
            self.fail_once = False
            raise RuntimeError("a callback bug")


async def until(check: Callable[[], bool], within: float = 3.0) -> None:
    with anyio.fail_after(within):
        while True:
            if check():
                return
            await anyio.sleep(0.002)


@asynccontextmanager
async def nodes(channel: str, names: Sequence[str]) -> AsyncIterator[list[Node]]:
    """A node per client name, each with its own client, listening on `channel` until the block ends."""
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(redis_client(name)) for name in names]
        started = [Node(RedisRevocationChannel(c, channel)) for c in clients]
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for n in started:
                    tg.start_soon(partial(n.channel.listen, n.deliver, n.states.append, stop=n.stop))
                try:
                    await until(lambda: all(n.states == [True] for n in started))
                    yield started
                finally:
                    for n in started:
                        n.stop.set()
    for n in started:
        assert n.states[-1] is False


@pytest.fixture
def channel() -> str:
    return f"sessionward-test:{uuid.uuid4().hex}"


async def until_no_client(redis: Redis, name: str) -> None:
    with anyio.fail_after(2):
        while True:
            if not [c for c in await redis.client_list() if c["name"] == name]:
                return
            await anyio.sleep(0.01)


def a_name() -> str:
    return f"sessionward-test-{uuid.uuid4().hex[:12]}"


async def test_a_publication_reaches_every_node(channel: str) -> None:
    async with nodes(channel, [a_name(), a_name()]) as (a, b):
        await a.channel.publish(ENTRIES)
        await a.channel.publish([])  # nothing
        await until(lambda: a.received == ENTRIES and b.received == ENTRIES)
        await anyio.sleep(0.05)
        assert a.received == b.received == ENTRIES
    assert a.states == b.states == [True, False]


async def test_a_killed_subscription_is_reported_and_restored(channel: str, redis: Redis) -> None:
    name = a_name()
    async with nodes(channel, [name, a_name()]) as (a, b):
        ids = [c["id"] for c in await redis.client_list(_type="pubsub") if c["name"] == name]
        assert len(ids) == 1
        assert await redis.client_kill_filter(_id=ids[0]) == 1
        await until(lambda: a.states[:2] == [True, False], within=0.5)
        await until(lambda: a.states == [True, False, True])
        await b.channel.publish(ENTRIES)
        await until(lambda: a.received == ENTRIES and b.received == ENTRIES)
        assert b.states == [True]
    # nothing left behind: neither the subscriber's connection nor the pool's
    await until_no_client(redis, name)


async def test_malformed_messages_are_skipped_without_their_payload(
    channel: str, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sessionward.redis")
    async with nodes(channel, [a_name()]) as (a,):
        for junk in (b"secret-sid-xyz", b'{"v":1,"entries":[{"kind":"?","subject":"secret-sid-xyz"}]}', b"\xff"):
            await redis.publish(channel, junk)
        await a.channel.publish(ENTRIES)
        await until(lambda: a.received == ENTRIES)
        assert a.states == [True]
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 3
    assert "secret-sid-xyz" not in caplog.text


async def test_a_failing_callback_does_not_stop_the_loop(channel: str) -> None:
    async with nodes(channel, [a_name()]) as (a,):
        a.fail_once = True
        await a.channel.publish(ENTRIES)
        await a.channel.publish(ENTRIES[:1])
        await until(lambda: a.received == [*ENTRIES, ENTRIES[0]])
        assert a.states == [True]


async def test_quiet_subscriptions_are_pinged(channel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_redis_channel, "IDLE_PING", 0.02)
    async with nodes(channel, [a_name()]) as (a,):
        await anyio.sleep(0.3)
        await a.channel.publish(ENTRIES)
        await until(lambda: a.received == ENTRIES)
        assert a.states == [True]


async def test_stop_ends_listening_while_redis_is_unreachable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    states: list[bool] = []
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(RedisRevocationChannel(client).listen, lambda _e: None, states.append, stop=stop))
            await anyio.sleep(0.5)
            began = time.monotonic()
            stop.set()
        assert time.monotonic() - began < 0.2
        assert states == []
        with anyio.fail_after(0.1):
            await RedisRevocationChannel(client).listen(lambda _e: None, states.append, stop=stop)
    finally:
        await client.aclose()
