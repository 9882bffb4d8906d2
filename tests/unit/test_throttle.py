"""Moving windows: the limit holds, Retry-After is exact, and a window never locks for longer than itself."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.throttle import Window, has_room, retry_after

W = Window("account", 5, 60.0)


def test_under_the_limit_is_allowed() -> None:
    assert retry_after([1.0, 2.0, 3.0, 4.0], W, 10.0) is None


def test_at_the_limit_waits_until_the_oldest_event_slides_out() -> None:
    assert retry_after([0.0, 10.0, 20.0, 30.0, 40.0], W, 50.0) == 10


def test_events_outside_the_window_do_not_count() -> None:
    assert retry_after([0.0, 10.0, 20.0, 30.0, 40.0], W, 60.5) is None


@given(st.lists(st.floats(0, 200, allow_nan=False), max_size=30), st.floats(0, 1000, allow_nan=False))
def test_retry_after_is_bounded_by_the_window_and_truthful(ages: list[float], now: float) -> None:
    events = [now - age for age in ages]
    wait = retry_after(events, W, now)
    if wait is None:
        assert len([t for t in events if now - 60 < t <= now]) < W.max_events
    else:
        assert 1 <= wait <= 60 + 1  # whole seconds, and one more where float rounding keeps the event in
        # After waiting, one more attempt fits.
        assert retry_after(events, W, now + wait) is None


@given(st.lists(st.floats(-100, 200, allow_nan=False), max_size=30), st.floats(0, 1000, allow_nan=False))
def test_has_room_agrees_with_retry_after(ages: list[float], now: float) -> None:
    """The stores reserve with has_room; a refused attempt is told how long to wait with retry_after."""
    events = [now - age for age in ages]
    assert has_room(events, W, now) == (retry_after(events, W, now) is None)
