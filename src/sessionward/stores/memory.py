"""In-process ephemeral state for the single-node default.

Every call costs the same however many keys are live (this runs on the event loop, under address spraying and
DPoP traffic), and memory has a hard bound:

- Throttle events: the keys are kept in the order they were last written, so the ones past their `keep_for` are
  dropped from the front, each once (amortised O(1) a call; a key written with a longer `keep_for` than those
  after it holds them back until it goes itself, which the cap bounds). At most `max_event_keys` keys
  (MAX_EVENT_KEYS by default): past it the least recently written key goes, its throttle window restarting. An
  attacker who can fill that many keys could spread over fresh ones anyway.
- `reserve_event` counts and adds in one synchronous step (nothing awaits in between), so concurrent attempts
  on the event loop never get more events into a window than its limit.
- The replay cache (`remember_once`): keys expire in the order they fall due (a heap: O(log n) a call), and a
  key is never forgotten before its `keep_for` has passed. At most `max_once_keys` keys (MAX_ONCE_KEYS by
  default): with that many live, `remember_once` refuses every new key (returns False, as for a replay) until
  some expire. Fail closed: a fresh DPoP proof is turned away rather than any proof made replayable.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque

from sessionward.core.throttle import Window, has_room

# One key never holds more than this many events: enough for any window we configure, bounded under attack.
_MAX_EVENTS_PER_KEY = 1024
# Throttle keys held at once; past this the least recently written goes.
MAX_EVENT_KEYS = 100_000
# Replay-cache keys held at once (a few hundred bytes each): at the default 60 s proof age, some 7,000 DPoP proofs
# a second on one node. Past this, new keys are refused, never old ones forgotten.
MAX_ONCE_KEYS = 500_000


class MemoryEphemeralStore:
    def __init__(self, *, max_event_keys: int = MAX_EVENT_KEYS, max_once_keys: int = MAX_ONCE_KEYS) -> None:
        if max_event_keys < 1 or max_once_keys < 1:
            raise ValueError("max_event_keys and max_once_keys must be at least 1")
        self._max_event_keys = max_event_keys
        self._max_once_keys = max_once_keys
        # key -> (time, serial) of each event; the serial names an event for release_event
        self._events: dict[str, deque[tuple[float, int]]] = {}
        self._serials = itertools.count()
        # key -> when it goes; oldest write first (an OrderedDict: its first entry is O(1) however many went before)
        self._expires: OrderedDict[str, float] = OrderedDict()
        self._once: dict[str, float] = {}
        # (until, key) for every key in _once, exactly one each: a key is only added while absent, and only
        # removed when its entry comes off the heap.
        self._once_due: list[tuple[float, str]] = []

    async def add_event(self, key: str, at: float, keep_for: float) -> None:
        self._add_event(key, at, keep_for)

    async def reserve_event(self, key: str, at: float, window: float, limit: int) -> str | None:
        """The count and the add in one synchronous step: no other task runs between them."""
        q = self._events.get(key)
        if q is not None and not has_room((t for t, _ in q), Window(key, limit, window), at):
            return None
        return str(self._add_event(key, at, window))

    async def release_event(self, key: str, event_id: str) -> None:
        q = self._events.get(key)
        if q is not None and event_id.isdecimal():
            serial = int(event_id)
            for event in q:
                if event[1] == serial:
                    q.remove(event)
                    return

    def _add_event(self, key: str, at: float, keep_for: float) -> int:
        self._drop_stale_events(at)
        expires = self._expires
        until = at + keep_for
        previous = expires.pop(key, None)  # and back in last: the dict stays in order of the latest write
        expires[key] = until if previous is None else max(previous, until)
        q = self._events.get(key)
        if q is None:
            q = self._events[key] = deque(maxlen=_MAX_EVENTS_PER_KEY)
        serial = next(self._serials)
        q.append((at, serial))
        while len(expires) > self._max_event_keys:
            oldest, _ = expires.popitem(last=False)
            self._events.pop(oldest, None)
        return serial

    async def events(self, key: str, now: float, window: float) -> list[float]:
        q = self._events.get(key)
        if q is None:
            return []
        return [t for t, _ in q if now - window < t <= now]

    async def clear(self, key: str) -> None:
        self._events.pop(key, None)
        self._expires.pop(key, None)

    async def remember_once(self, key: str, at: float, keep_for: float) -> bool:
        """True the first time `key` is given within `keep_for` seconds of `at`; False while it is remembered,
        and also, failing closed, for a new key while `max_once_keys` live keys are held (nothing is forgotten
        early to make room: that would let a replay in)."""
        self._forget_due(at)
        once = self._once
        if key in once:  # still remembered: every key due by `at` went just now
            return False
        if len(once) >= self._max_once_keys:
            return False
        until = once[key] = at + keep_for
        heapq.heappush(self._once_due, (until, key))
        return True

    def _drop_stale_events(self, now: float) -> None:
        expires = self._expires
        while expires:
            key = next(iter(expires))
            if expires[key] > now:
                return
            del expires[key]
            self._events.pop(key, None)

    def _forget_due(self, now: float) -> None:
        due, once = self._once_due, self._once
        while due and due[0][0] <= now:
            del once[heapq.heappop(due)[1]]
