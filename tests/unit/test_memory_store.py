"""MemoryEphemeralStore: a replay is refused for its whole window, stale keys go as new ones come (no rescans, no
unbounded growth), and at the cap the replay cache fails closed while throttle keys give way oldest first."""

from __future__ import annotations

import pytest

from sessionward.stores.memory import MAX_EVENT_KEYS, MAX_ONCE_KEYS, MemoryEphemeralStore

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_replay_within_keep_for_is_refused_and_accepted_after_it() -> None:
    store = MemoryEphemeralStore()
    assert await store.remember_once("dpop:a", T0, 60)
    assert not await store.remember_once("dpop:a", T0 + 1, 60)
    assert not await store.remember_once("dpop:a", T0 + 59.999, 60)
    assert await store.remember_once("dpop:a", T0 + 60, 60)  # expired: a new use
    assert not await store.remember_once("dpop:a", T0 + 61, 60)


async def test_keys_with_different_windows_each_keep_their_own() -> None:
    store = MemoryEphemeralStore()
    assert await store.remember_once("long", T0, 600)
    assert await store.remember_once("short", T0, 1)
    assert await store.remember_once("short", T0 + 2, 1)  # gone though a longer-lived key came first
    assert not await store.remember_once("long", T0 + 2, 600)


async def test_stale_replay_keys_go_as_new_ones_come() -> None:
    store = MemoryEphemeralStore()
    for n in range(150_000):
        assert await store.remember_once(f"dpop:{n}", T0 + n / 1000, 1.0)
    # Only the last second's keys are held: the rest went, a few at each call, without rescanning the live ones.
    assert len(store._once) == len(store._once_due) <= 1001
    assert await store.remember_once("later", T0 + 1000, 1.0)
    assert len(store._once) == len(store._once_due) == 1
    assert await store.remember_once("dpop:0", T0 + 1000, 1.0)  # long expired


async def test_stale_throttle_keys_go_as_new_ones_come() -> None:
    store = MemoryEphemeralStore()
    for n in range(150_000):
        await store.add_event(f"login:ip:{n}", T0 + n / 1000, 1.0)
    assert len(store._expires) == len(store._events) <= 1001
    await store.add_event("login:ip:later", T0 + 1000, 1.0)
    assert list(store._events) == ["login:ip:later"]
    assert await store.events("login:ip:0", T0 + 1000, 3600) == []


async def test_a_throttle_key_written_again_stays_while_it_is_written() -> None:
    store = MemoryEphemeralStore()
    await store.add_event("login:acct:a", T0, 10)
    for n in range(1, 30):
        await store.add_event(f"login:ip:{n}", T0 + n, 5)
        await store.add_event("login:acct:a", T0 + n, 10)
    assert await store.events("login:acct:a", T0 + 29, 3) == [T0 + 27, T0 + 28, T0 + 29]
    assert len(store._expires) <= 6  # the acct key and the ip keys of the last five seconds
    await store.clear("login:acct:a")
    assert await store.events("login:acct:a", T0 + 29, 60) == []


async def test_at_the_cap_the_replay_cache_fails_closed() -> None:
    store = MemoryEphemeralStore(max_once_keys=3)
    for key in ("a", "b", "c"):
        assert await store.remember_once(key, T0, 60)
    # Every held key is live: a new one is refused rather than an old one forgotten (that would admit a replay).
    assert not await store.remember_once("d", T0 + 1, 60)
    assert not await store.remember_once("a", T0 + 1, 60)
    assert len(store._once) == 3
    assert await store.remember_once("d", T0 + 60, 60)  # a b c expired: room again
    assert not await store.remember_once("d", T0 + 61, 60)


async def test_at_the_cap_the_least_recently_written_throttle_key_goes() -> None:
    store = MemoryEphemeralStore(max_event_keys=3)
    for n, key in enumerate(("a", "b", "c")):
        await store.add_event(key, T0 + n, 600)
    await store.add_event("a", T0 + 3, 600)  # a is now the latest written
    await store.add_event("d", T0 + 4, 600)
    assert sorted(store._events) == ["a", "c", "d"]
    assert list(store._expires) == ["c", "a", "d"]
    assert await store.events("b", T0 + 5, 600) == []
    assert await store.events("a", T0 + 5, 600) == [T0, T0 + 3]


def test_the_caps_are_positive_and_bounded() -> None:
    assert 0 < MAX_EVENT_KEYS <= 1_000_000 and 0 < MAX_ONCE_KEYS <= 1_000_000
    with pytest.raises(ValueError, match="at least 1"):
        MemoryEphemeralStore(max_once_keys=0)
