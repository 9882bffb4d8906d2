"""services/liveness.py: what a node remembers of the sessions it proved alive."""

from __future__ import annotations

import pytest

from sessionward.services.liveness import LiveSessions


def test_known_only_for_the_same_user_and_client_and_within_its_bound() -> None:
    live = LiveSessions()
    live.remember("sid-1", "user-a", "web", until=100.0)
    assert live.known("sid-1", "user-a", "web", 99.9)
    assert not live.known("sid-1", "user-a", "web", 100.0)
    assert not live.known("sid-1", "user-b", "web", 50.0)
    assert not live.known("sid-1", "user-a", "other", 50.0)
    assert not live.known("sid-2", "user-a", "web", 50.0)
    live.forget("sid-1")
    assert not live.known("sid-1", "user-a", "web", 50.0)
    live.forget("sid-1")  # forgetting twice is harmless


def test_bounded_first_in_first_out() -> None:
    live = LiveSessions(size=2)
    for sid in ("a", "b", "c"):
        live.remember(sid, "u", "web", until=10.0)
    assert len(live) == 2
    assert not live.known("a", "u", "web", 0.0)
    assert live.known("b", "u", "web", 0.0) and live.known("c", "u", "web", 0.0)
    live.remember("b", "u", "web", until=10.0)  # read again: the newest
    live.remember("d", "u", "web", until=10.0)
    assert live.known("b", "u", "web", 0.0) and not live.known("c", "u", "web", 0.0)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_size_must_be_a_positive_int(size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        LiveSessions(size=size)  # type: ignore[arg-type]
