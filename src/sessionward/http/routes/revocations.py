"""GET /v1/revocations/stream: the revocation feed for relying applications, as Server-Sent Events.

A client with a secret (HTTP Basic) receives every ended session and every moved user epoch as an event
`id: <seq>` / `event: revocation` / `data: {...}`, and a `: ping` comment every HEARTBEAT_SECONDS after a poll of
the store succeeded, so a quiet feed and a dead one look different. A ping also means "you now have everything up
to here": the first one follows the backlog. Without `Last-Event-ID` the backlog is every entry that still
matters (an ended session until no token of it can be alive, a user's epoch until the hourly purge drops it), so
an application that has just started never accepts a token revoked before it connected; with it, the entries
after that id.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Final

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from sessionward.core.audit import AuditEvent
from sessionward.core.models import Revocation
from sessionward.core.numbers import ascii_int
from sessionward.http.context import client_ip, services
from sessionward.services.container import Services

log = logging.getLogger("sessionward.revocations")

STREAM_PATH: Final = "/v1/revocations/stream"
# The stream reads the store when this node learns of a revocation (its own, by pub/sub or by its own poll of the
# feed), at most every MIN_READ_GAP, and otherwise every HEARTBEAT_SECONDS, each read followed by a ping when due.
MIN_READ_GAP: Final = 0.05
HEARTBEAT_SECONDS: Final = 0.25
_PING_SLACK: Final = 0.02  # a wake-up a little early still pings, so pings never slip to twice the heartbeat
MAX_EVENT_ID: Final = 2**63 - 1
_HEADERS: Final = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_bytes(entry: Revocation) -> bytes:
    if entry.kind == "sid":
        data: dict[str, object] = {"kind": "sid", "sid": entry.subject, "until": _seconds(entry.value)}
    else:
        data = {"kind": "epoch", "sub": entry.subject, "epoch": _seconds(entry.value)}
    body = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"id: {entry.seq}\nevent: revocation\ndata: {body}\n\n".encode()


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def last_event_id(header: str | None) -> int:
    """The resume point; 0 (everything that still matters: always safe) for a missing or unusable id."""
    after = None if header is None else ascii_int(header, max_digits=19)
    return 0 if after is None else min(after, MAX_EVENT_ID)


class SentSeqs:
    """The seqs this connection has sent, so an entry is never sent twice.

    On PostgreSQL entries can become visible out of seq order, so the store answers with an overlap window below
    the cursor; entries of a window already sent are dropped here. Seqs below the lowest one the store returned
    in the last round can never come back (the window only moves up and an expired entry stays expired), so
    they are forgotten and the set stays the size of the window.
    """

    def __init__(self, after: int) -> None:
        self.cursor = after
        self._sent: set[int] = set()

    def fresh(self, entries: list[Revocation], scanned_to: int = 0) -> list[Revocation]:
        new = [e for e in entries if e.seq not in self._sent]
        if entries:
            floor = min(e.seq for e in entries)
            self._sent = {s for s in self._sent if s >= floor}
        self._sent.update(e.seq for e in new)
        self.cursor = max([self.cursor, scanned_to, *(e.seq for e in entries)])
        return sorted(new, key=lambda e: e.seq)


async def _read_round(svc: Services, sent: SentSeqs) -> list[Revocation]:
    """Every entry after the cursor (page by page) that this connection has not sent."""
    now = svc.clock.now()
    entries: list[Revocation] = []
    cursor = sent.cursor
    while True:
        page = await svc.store.revocations_since(cursor, now)
        entries += page
        cursor = max(cursor, page.scanned_to)
        if not page.full:
            return sent.fresh(entries, cursor)


def server_draining(request: Request) -> Callable[[], bool]:
    """True once the server has begun a graceful shutdown.

    ASGI tells a running response nothing when the server starts shutting down, and uvicorn waits for it (up to
    its graceful timeout) before the lifespan shutdown runs. What uvicorn does tell is the connection's request
    cycle: it clears `keep_alive` so the connection closes after this response. The cycle is the object behind
    `receive`; where it is not recognised this answers False and the server's graceful timeout ends the stream.
    """
    cycle = getattr(request.receive, "__self__", None)
    if cycle is None or getattr(cycle, "keep_alive", None) is not True:
        return lambda: False
    return lambda: getattr(cycle, "keep_alive", True) is not True


async def _events(request: Request, svc: Services, after: int) -> AsyncIterator[bytes]:
    sent = SentSeqs(after)
    draining = server_draining(request)
    last_ping = -math.inf
    failing = False
    while not draining() and not await request.is_disconnected():
        seen = svc.revocations.changed.generation
        try:
            entries = await _read_round(svc, sent)
        except Exception:  # no ping while the store cannot be read: the reader must see a dead feed
            if not failing:
                log.warning("the revocation stream cannot read the store", exc_info=True)
            failing = True
        else:
            failing = False
            if entries:
                yield b"".join(event_bytes(e) for e in entries)
            now = anyio.current_time()
            if now - last_ping >= HEARTBEAT_SECONDS - _PING_SLACK:
                last_ping = now
                yield b": ping\n\n"
        await anyio.sleep(MIN_READ_GAP)
        due = HEARTBEAT_SECONDS - MIN_READ_GAP if failing else last_ping + HEARTBEAT_SECONDS - anyio.current_time()
        await svc.revocations.changed.wait(seen, due)


async def stream(request: Request) -> Response:
    svc = services(request)
    ip = client_ip(request)
    client_id = await svc.clients.authenticate(request.headers.get("authorization"), ip)
    after = last_event_id(request.headers.get("last-event-id"))
    if request.method == "HEAD":
        return Response(media_type="text/event-stream", headers=_HEADERS)
    await svc.store.append_audit(
        [AuditEvent("revocation_stream.opened", {"client_id": client_id, "ip": ip, "after": after})], svc.clock.now()
    )
    return StreamingResponse(_events(request, svc, after), media_type="text/event-stream", headers=_HEADERS)


routes = [Route(STREAM_PATH, stream, methods=["GET"])]
