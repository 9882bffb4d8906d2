"""The audit trail's door for refusals at the edge: bad access tokens (`token.rejected`), CSRF refusals
(`csrf.rejected`) and failed client authentication (`client.auth_failed`).

Anyone can send these, as fast as they like, so they must not cost a write transaction each nor wait in the
store's writer queue ahead of a sign-in. core/refusals.py decides which are written in full and counts the rest;
here the records to write in full wait in a bounded buffer, and one background task (`run`, started with the
application) writes everything that queued meanwhile in one transaction, then the summaries of the windows that
ended. A request whose refusal is written in full waits for that one transaction (so its record is in the trail
when it is answered); a counted one does not wait at all. So a flood costs a bounded number of rows per minute
and at most one transaction in the writer queue at any time. When nothing runs the task (the CLI, a script),
the record is written at once.

Always written in full, and not here: refresh-token reuse, written with the session's ending in the same
transaction. A refusal of a validly signed token (a replayed DPoP proof, a DPoP-bound token sent as a bearer
token, an unbound one sent with DPoP) names the token's session, and each session has its own budget of full
records per minute that no flood from elsewhere can use up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import anyio

from sessionward.clock import Clock
from sessionward.core.audit import AuditEvent
from sessionward.core.refusals import RefusalLimits, RefusalTally, refusal_key
from sessionward.stores.base import AuditLog

log = logging.getLogger("sessionward.audit")

# The summaries of a window that ended are written within this long; records in full as they come.
FLUSH_SECONDS = 0.5
# Records in full waiting for the writer at most; past that a refusal is only counted.
MAX_PENDING = 1024


class RefusalLog(Protocol):
    """Where the edge records refusals (RefusalAudit; a test may pass a store, which writes each at once)."""

    async def record(self, event: AuditEvent, now: float) -> None: ...


class RefusalAudit:
    def __init__(self, log_store: AuditLog, clock: Clock, limits: RefusalLimits | None = None) -> None:
        self._store = log_store
        self._clock = clock
        self._tally = RefusalTally(limits)
        self._pending: list[tuple[AuditEvent, float]] = []
        self._running = False
        self._wake: anyio.Event | None = None
        self._written: anyio.Event | None = None
        self._failing = False

    async def record(self, event: AuditEvent, now: float) -> None:
        """Counts the refusal, and writes it in full while its key's budget lasts."""
        key = refusal_key(event)
        if not self._tally.admit(key, now):
            return
        if not self._running or self._wake is None or self._written is None:
            await self._store.append_audit([event], now)
            return
        if len(self._pending) >= MAX_PENDING:
            self._tally.unwritten(key, now)
            return
        self._pending.append((event, now))
        written = self._written
        self._wake.set()
        await written.wait()

    async def run(self, stop: anyio.Event, interval: float = FLUSH_SECONDS) -> None:
        """Writes the buffered records as they come and the due summaries every `interval`, until `stop`; then
        everything still held, the summaries of the current window included."""
        self._wake, self._written = anyio.Event(), anyio.Event()
        self._running = True
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._wake_on, stop)
                while not stop.is_set():
                    with anyio.move_on_after(interval):
                        await self._wake.wait()
                    await self._flush(everything=False)
                tg.cancel_scope.cancel()
        finally:
            self._running = False
            with anyio.CancelScope(shield=True):
                await self._flush(everything=True)

    async def _wake_on(self, stop: anyio.Event) -> None:
        await stop.wait()
        if self._wake is not None:
            self._wake.set()

    async def _flush(self, everything: bool) -> None:
        now = self._clock.now()
        pending, self._pending = self._pending, []
        written, self._written = self._written, anyio.Event()
        self._wake = anyio.Event()
        batches: list[tuple[Sequence[AuditEvent], float]] = [([event], at) for event, at in pending]
        summaries = self._tally.due(now, everything)
        if summaries:
            batches.append((summaries, now))
        try:
            if batches:
                await self._store.append_audit_batches(batches)
        except Exception as exc:  # the refusals stand; only their records are lost: say so, keep serving
            if not self._failing:
                log.warning("writing %d refusal records failed (%s)", len(batches), type(exc).__name__)
            self._failing = True
        else:
            self._failing = False
        finally:
            if written is not None:
                written.set()
