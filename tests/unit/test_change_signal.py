"""The revocation state's change signal: the SSE stream sleeps on it instead of polling the store, so a missed
wake-up would delay a revocation and a spurious one would cost a read; neither may happen."""

from __future__ import annotations

import anyio
import pytest

from sessionward.core.models import Revocation
from sessionward.services.revocation import RevocationState

pytestmark = pytest.mark.anyio


async def test_news_wakes_a_waiter_at_once() -> None:
    state = RevocationState(keep_for=60)
    seen = state.changed.generation
    woke: list[float] = []

    async def waiter() -> None:
        await state.changed.wait(seen, 10)
        woke.append(anyio.current_time())

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        started = anyio.current_time()
        state.apply([Revocation(1, "sid", "s1", 100.0)])
    assert woke and woke[0] - started < 1


async def test_a_change_between_reading_and_waiting_is_not_missed() -> None:
    state = RevocationState(keep_for=60)
    seen = state.changed.generation
    state.apply([Revocation(1, "epoch", "u1", 5.0)])
    with anyio.fail_after(1):
        await state.changed.wait(seen, 10)


async def test_what_is_known_already_wakes_no_one() -> None:
    state = RevocationState(keep_for=60)
    state.apply([Revocation(1, "sid", "s1", 100.0), Revocation(2, "epoch", "u1", 5.0)])
    seen = state.changed.generation
    state.apply([Revocation(1, "sid", "s1", 100.0), Revocation(3, "epoch", "u1", 4.0)])  # published, then polled
    assert state.changed.generation == seen
    started = anyio.current_time()
    await state.changed.wait(seen, 0.05)
    assert anyio.current_time() - started >= 0.04


def test_a_users_epoch_is_forgotten_once_no_token_issued_before_it_can_live() -> None:
    state = RevocationState(keep_for=60)
    state.apply([Revocation(1, "epoch", "u1", 1000.0)])
    state.sweep(1059.0)
    assert state.is_revoked("s", "u1", issued_at=999.0)  # a token from before the epoch may still live
    state.sweep(1060.0)
    assert not state.is_revoked("s", "u1", issued_at=999.0)  # it expired: nothing is left to reject
