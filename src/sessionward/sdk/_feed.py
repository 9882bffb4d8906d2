"""The relying application's copy of sessionward's revocation state, kept current by the SSE feed.

The state is fresh while the feed has proven itself within `bound` seconds: a `: ping` (sent by the server after
each successful poll of its store) or an event, on a connection whose backlog has been received (its first ping
ends the backlog). Reconnections resume with Last-Event-ID, so nothing is missed across them.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from typing import Any, Final

import anyio
import httpx2

from sessionward.core.numbers import ascii_int

log = logging.getLogger("sessionward.sdk")

MIN_BACKOFF: Final = 0.05
MAX_BACKOFF: Final = 2.0
MAX_LINE: Final = 65536
SWEEP_SECONDS: Final = 1.0


class FeedError(Exception):
    """The feed answered something other than a revocation stream."""


def _finite(value: object) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ValueError("not a finite number")
    return float(value)  # type: ignore[arg-type]


class RevocationFeed:
    def __init__(
        self,
        bound: float,
        leeway: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`bound`: how long the state counts as fresh after the feed last proved itself alive.

        `leeway`: ended sessions are kept this long past their `until`, so a verifier allowing that much clock
        skew on `exp` never outlives the entry.
        """
        self._bound = bound
        self._leeway = leeway
        self._clock = clock
        self._monotonic = monotonic
        self._ended: dict[str, float] = {}
        self._epochs: dict[str, float] = {}
        self._fresh_at: float | None = None
        self._swept_at = -math.inf
        self.last_event_id = 0
        self.connections = 0
        self.on_synced: Callable[[], None] = lambda: None

    # -- the checks (request path) ---------------------------------------------------------------------------

    def fresh(self) -> bool:
        return self._fresh_at is not None and self._monotonic() - self._fresh_at <= self._bound

    def is_revoked(self, sid: str, sub: str, issued_at: float) -> bool:
        if sid in self._ended:
            return True
        epoch = self._epochs.get(sub)
        return epoch is not None and issued_at < epoch

    # -- applying events -------------------------------------------------------------------------------------

    def apply(self, data: str) -> None:
        """One revocation event's data; ValueError for anything not understood (the caller reconnects)."""
        entry: Any = json.loads(data)
        kind = entry.get("kind") if type(entry) is dict else None
        if kind == "sid":
            sid, until = entry.get("sid"), _finite(entry.get("until")) + self._leeway
            if type(sid) is not str or not sid:
                raise ValueError("sid must be a non-empty string")
            self._ended[sid] = max(until, self._ended.get(sid, -math.inf))
        elif kind == "epoch":
            sub, epoch = entry.get("sub"), _finite(entry.get("epoch"))
            if type(sub) is not str or not sub:
                raise ValueError("sub must be a non-empty string")
            self._epochs[sub] = max(epoch, self._epochs.get(sub, -math.inf))
        else:
            # A kind this SDK does not know could revoke tokens it would go on accepting: not understood.
            raise ValueError(f"unknown revocation kind {kind!r:.40}")

    def _alive(self) -> None:
        self._fresh_at = self._monotonic()
        if self._fresh_at - self._swept_at >= SWEEP_SECONDS:
            self._swept_at = self._fresh_at
            now = self._clock()
            for sid in [s for s, until in self._ended.items() if until <= now]:
                del self._ended[sid]

    # -- the connection --------------------------------------------------------------------------------------

    async def run(self, http: httpx2.AsyncClient, url: str, auth: httpx2.BasicAuth) -> None:
        """Keeps the feed connected until cancelled, reconnecting with backoff and Last-Event-ID."""
        backoff = MIN_BACKOFF
        while True:
            synced = False
            try:
                synced = await self._connection(http, url, auth)
            except (httpx2.HTTPError, FeedError, ValueError) as exc:
                log.warning("sessionward revocation feed: %s: %s", type(exc).__name__, exc)
            except Exception:  # whatever it was, keep reconnecting: giving up would mean 503 for good
                log.exception("sessionward revocation feed: unexpected failure")
            if synced:
                backoff = MIN_BACKOFF
            await anyio.sleep(backoff * random.uniform(0.5, 1.0))  # noqa: S311 (jitter, not a secret)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _connection(self, http: httpx2.AsyncClient, url: str, auth: httpx2.BasicAuth) -> bool:
        """One connection until it ends; True if its backlog was received."""
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = str(self.last_event_id)
        # No ping for this long means the feed is stuck: drop it and reconnect.
        timeout = httpx2.Timeout(5.0, read=max(self._bound, 0.5))
        synced = False
        async with http.stream("GET", url, headers=headers, auth=auth, timeout=timeout) as response:
            if response.status_code != 200:
                raise FeedError(f"{url} answered {response.status_code}")
            media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
            if media != "text/event-stream":
                raise FeedError(f"{url} answered {media!r}, not text/event-stream")
            self.connections += 1
            event_id, event, data = "", "", []
            async for line in response.aiter_lines():
                if len(line) > MAX_LINE:
                    raise FeedError("an over-long line")
                if line.startswith(":"):
                    if line[1:].strip() == "ping":
                        self._alive()
                        if not synced:
                            synced = True
                            self.on_synced()
                    continue
                if line:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "id":
                        event_id = value
                    elif name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    continue
                if data and event == "revocation":
                    self.apply("\n".join(data))
                    if (seq := ascii_int(event_id, max_digits=19)) is not None:
                        self.last_event_id = max(self.last_event_id, seq)
                    if synced:
                        self._alive()
                event_id, event, data = "", "", []
        return synced
