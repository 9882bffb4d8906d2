"""Issue 11 item 5: the in-memory revocation sweep (run every 50 ms poll) touches only what expired, so its cost
follows the expired entries, not the hundreds of thousands a mass sign-out leaves known; and it forgets nothing
early."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator
from typing import Any

from sessionward.core.models import Revocation
from sessionward.services.revocation import RevocationState

KEEP = 300.0


class CountingDict(dict[str, float]):
    """Counts every key the sweep looks at, however it looks."""

    touched = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.touched += 1
        return super().get(key, default)

    def __getitem__(self, key: str) -> float:
        self.touched += 1
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        self.touched += len(self)
        return super().__iter__()

    def items(self) -> ItemsView[str, float]:
        self.touched += len(self)
        return super().items()


def test_sweep_touches_only_the_expired_among_many() -> None:
    state = RevocationState(keep_for=KEEP)
    state.apply(Revocation(i, "sid", f"s{i}", 1000.0 + i) for i in range(20_000))
    state.apply(Revocation(0, "epoch", f"u{i}", 1000.0 + i) for i in range(5_000))
    sids = CountingDict(state._ended_sids)
    epochs = CountingDict(state._user_epochs)
    state._ended_sids, state._user_epochs = sids, epochs
    state.sweep(1000.0 + 9.5)  # sids s0..s9 have expired; no epoch has (they last KEEP longer)
    assert sids.touched <= 10
    assert epochs.touched == 0
    assert not any(state.is_revoked(f"s{i}", "nobody", 0) for i in range(10))
    assert all(state.is_revoked(f"s{i}", "nobody", 0) for i in range(10, 20_000))
    sids.touched = epochs.touched = 0  # the checks above looked keys up too
    state.sweep(1000.0 + KEEP + 2.5)  # epochs u0..u2 are past their keep time too
    assert epochs.touched <= 3
    assert sids.touched <= int(KEEP + 3) - 10
    assert state.is_revoked("x", "u3", 1000.0) and not state.is_revoked("x", "u2", 1000.0)
    assert state.known() == 20_000 + 5_000 - int(KEEP + 3) - 3


def test_an_entry_raised_later_is_not_dropped_at_its_old_expiry() -> None:
    state = RevocationState(keep_for=KEEP)
    state.apply([Revocation(1, "sid", "s1", 100.0), Revocation(2, "epoch", "u1", 100.0)])
    state.apply([Revocation(3, "sid", "s1", 500.0), Revocation(4, "epoch", "u1", 500.0)])
    state.sweep(100.0 + KEEP + 1)  # past both first expiries, before the raised ones
    assert state.is_revoked("s1", "other", 0)
    assert state.is_revoked("other", "u1", 499.0)
    state.sweep(500.0 + KEEP)
    assert not state.is_revoked("s1", "other", 0)
    assert not state.is_revoked("other", "u1", 499.0)
    assert state.known() == 0


def test_an_entry_seen_twice_expires_once_and_on_time() -> None:
    state = RevocationState(keep_for=KEEP)
    entry = Revocation(1, "sid", "s1", 100.0)
    state.apply([entry])
    state.caught_up([entry], scanned_to=7)  # published, then polled
    assert state.cursor == 7
    state.sweep(99.9)
    assert state.is_revoked("s1", "u", 0)
    state.sweep(100.0)
    assert not state.is_revoked("s1", "u", 0)
