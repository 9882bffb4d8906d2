"""In-memory revocation state checked on every protected request: ended sessions and per-user epochs.

Checked by session id and user epoch, never by a hash of the token: an ECDSA signature can be re-encoded into a
second valid form, so a token hash would let a revoked token back in.

Three paths feed it: this node's own endings (at once), the publication channel when there is one (Redis pub/sub,
about a millisecond), and the durable store's revocation feed, polled every few tens of milliseconds, which
never misses an entry. The state knows when it last caught up with the store: past `sync_bound` without a
successful poll, callers must ask the store per request instead of trusting memory.

It knows which sessions ended, not which exist: that a token's session exists at all, and is its user's, is
proven once per session by a store read (services/liveness.py, services/tokens.py).
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio

from sessionward.core.models import Revocation

log = logging.getLogger("sessionward.revocation")

Publish = Callable[[Sequence[Revocation]], Awaitable[None]]


class ChangeSignal:
    """Wakes the waiters when the state learns something new, so readers of the feed (the SSE stream) read the
    store when there is news instead of polling it. A generation counter closes the gap between reading and
    waiting: a change that lands in between makes `wait` return at once."""

    def __init__(self) -> None:
        self.generation = 0
        self._waiters: list[anyio.Event] = []

    def notify(self) -> None:
        self.generation += 1
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()

    async def wait(self, seen: int, within: float) -> None:
        """Returns when the generation has moved past `seen`, or after `within` seconds."""
        if self.generation != seen or within <= 0 or math.isnan(within):
            return
        event = anyio.Event()
        self._waiters.append(event)
        with anyio.move_on_after(within):
            await event.wait()
        if event in self._waiters:
            self._waiters.remove(event)


class RevocationState:
    def __init__(
        self,
        keep_for: float,
        sync_bound: float = 1.0,
        publish: Publish | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`keep_for`: how long an ended sid must stay known (the longest access-token life plus leeway).

        `monotonic` measures how fresh the state is: an operational interval, not policy time, so tests that move
        a fake policy clock do not make every node look out of sync.
        """
        self._keep_for = keep_for
        self._sync_bound = sync_bound
        self._monotonic = monotonic
        self._ended_sids: dict[str, float] = {}
        self._user_epochs: dict[str, float] = {}
        # The same entries in the order they stop mattering, so a sweep pops the expired ones from the front
        # instead of walking them all. An entry raised later leaves its old item behind: popped, it no longer
        # matches the dict and is dropped without effect.
        self._sid_expiry: list[tuple[float, str]] = []
        self._epoch_expiry: list[tuple[float, str]] = []
        self._synced_at: float | None = None
        self.publish: Publish | None = publish
        self.cursor = 0  # the highest durable-feed entry applied
        self.changed = ChangeSignal()

    # -- what this node does itself ------------------------------------------------------------------------

    async def sessions_ended(self, sids: Iterable[str], now: float) -> None:
        """This node's own endings take effect here at once, then go to the other nodes."""
        entries = [Revocation(0, "sid", sid, now + self._keep_for) for sid in sids]
        await self._apply_and_publish(entries)

    async def epoch_moved(self, user_id: str, epoch: float) -> None:
        await self._apply_and_publish([Revocation(0, "epoch", user_id, epoch)])

    async def _apply_and_publish(self, entries: list[Revocation]) -> None:
        if not entries:
            return
        self.apply(entries)
        if self.publish is not None:
            try:
                await self.publish(entries)
            except Exception:  # the ending is durable: other nodes still read it from the store's feed
                log.warning("publishing %d revocation(s) failed; the store's feed will carry them", len(entries))

    # -- what arrives from elsewhere -----------------------------------------------------------------------

    def apply(self, entries: Iterable[Revocation]) -> None:
        """Idempotent: an entry seen twice (published and polled) changes nothing the second time."""
        news = False
        for entry in entries:
            known = self._ended_sids if entry.kind == "sid" else self._user_epochs
            before = known.get(entry.subject, 0.0)
            if entry.value > before:
                known[entry.subject] = entry.value
                if entry.kind == "sid":
                    heapq.heappush(self._sid_expiry, (entry.value, entry.subject))
                else:
                    heapq.heappush(self._epoch_expiry, (entry.value + self._keep_for, entry.subject))
                news = True
        if news:
            self.changed.notify()

    def caught_up(self, entries: Sequence[Revocation], scanned_to: int = 0) -> None:
        """A poll of the durable feed succeeded with these entries, having read up to seq `scanned_to` (entries
        it skipped as expired included)."""
        self.apply(entries)
        self.cursor = max([self.cursor, scanned_to, *(entry.seq for entry in entries)])
        self._synced_at = self._monotonic()

    # -- the checks ----------------------------------------------------------------------------------------

    def in_sync(self) -> bool:
        return self._synced_at is not None and self._monotonic() - self._synced_at <= self._sync_bound

    def is_revoked(self, sid: str, user_id: str, issued_at: float) -> bool:
        if sid in self._ended_sids:
            return True
        epoch = self._user_epochs.get(user_id)
        return epoch is not None and issued_at < epoch

    def sweep(self, now: float) -> None:
        """Forgets what no longer matters, touching only that: the cost follows the expired, not the known."""
        _pop_expired(self._sid_expiry, self._ended_sids, now, 0.0)
        # A token issued before a user's epoch lives at most keep_for: after that the epoch rejects nothing.
        _pop_expired(self._epoch_expiry, self._user_epochs, now, self._keep_for)

    def known(self) -> int:
        """How many ended sessions and user epochs are held (for tests and diagnostics)."""
        return len(self._ended_sids) + len(self._user_epochs)


def _pop_expired(heap: list[tuple[float, str]], known: dict[str, float], now: float, keep_for: float) -> None:
    while heap and heap[0][0] <= now:
        until, key = heapq.heappop(heap)
        value = known.get(key)
        if value is not None and value + keep_for == until:  # not raised since: this item is its current one
            del known[key]
