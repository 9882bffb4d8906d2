"""In-process ephemeral state for the single-node default."""

from __future__ import annotations

from collections import deque

# One key never holds more than this many events: enough for any window we configure, bounded under attack.
_MAX_EVENTS_PER_KEY = 1024
# Past this many keys, stale ones are swept so an address-spraying attacker cannot grow memory without end.
_SWEEP_AT_KEYS = 100_000


class MemoryEphemeralStore:
    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._expires: dict[str, float] = {}
        self._once: dict[str, float] = {}

    async def add_event(self, key: str, at: float, keep_for: float) -> None:
        if len(self._events) >= _SWEEP_AT_KEYS:
            self._sweep(at)
        q = self._events.setdefault(key, deque(maxlen=_MAX_EVENTS_PER_KEY))
        q.append(at)
        self._expires[key] = max(self._expires.get(key, 0.0), at + keep_for)

    async def events(self, key: str, now: float, window: float) -> list[float]:
        q = self._events.get(key)
        if q is None:
            return []
        return [t for t in q if now - window < t <= now]

    async def clear(self, key: str) -> None:
        self._events.pop(key, None)
        self._expires.pop(key, None)

    async def remember_once(self, key: str, at: float, keep_for: float) -> bool:
        once = self._once
        until = once.get(key)
        if until is not None and at < until:
            return False
        if len(once) >= _SWEEP_AT_KEYS:
            for stale in [k for k, u in once.items() if u <= at]:
                del once[stale]
        once[key] = at + keep_for
        return True

    def _sweep(self, now: float) -> None:
        for key in [k for k, exp in self._expires.items() if exp <= now]:
            self._events.pop(key, None)
            self._expires.pop(key, None)
