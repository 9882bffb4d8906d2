"""Moving-window throttling decisions for login attempts.

Three windows guard a login: failures per account (NIST SP 800-63B caps consecutive failures at 100), failures
per account and source IP (one attacker address cannot reach the account-wide cap, so it cannot lock the owner
out from elsewhere), and attempts per source IP (password spraying across many accounts). A window never locks
for longer than its own length: throttling slows an attacker, it does not end the owner's access for good.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    max_events: int
    seconds: float


def events_in_window(events: Sequence[float], window: Window, now: float) -> list[float]:
    start = now - window.seconds
    return [t for t in events if start < t <= now]


def has_room(events: Iterable[float], window: Window, now: float) -> bool:
    """One more event fits in the window at `now`."""
    start = now - window.seconds
    return sum(1 for t in events if start < t <= now) < window.max_events


def retry_after(events: Sequence[float], window: Window, now: float) -> int | None:
    """Whole seconds until one more event fits in the window, or None when it fits now."""
    recent = sorted(events_in_window(events, window, now))
    if len(recent) < window.max_events:
        return None
    # The window frees a slot when the oldest event that keeps it full slides out.
    blocking = recent[len(recent) - window.max_events]
    wait = max(1, math.ceil(blocking + window.seconds - now))
    # Float rounding can leave the event inside the window at exactly now + wait: then one more second.
    while blocking > (now + wait) - window.seconds:
        wait += 1
    return wait


def login_windows(
    max_failures_per_account: int,
    max_failures_per_account_ip: int,
    max_attempts_per_ip: int,
    seconds: float,
) -> tuple[Window, Window, Window]:
    return (
        Window("account", max_failures_per_account, seconds),
        Window("account_ip", max_failures_per_account_ip, seconds),
        Window("ip", max_attempts_per_ip, seconds),
    )
