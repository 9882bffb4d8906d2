"""`sessionward.simulate` over the real thing: the clients of `_sim_clients` talk to the real services
(`AuthService.login`, `SessionService.refresh`, `TokenService.verify`, `SessionService.end_by_sid`) over a real
store, SQLite in a temporary directory or PostgreSQL in a schema of its own (made for the run, dropped after it).

Every session runs as a generator (`simulate._session`); the driver here resumes them in the order of their next
event, so all of them share one FakeClock that only moves forward and the store holds the day's sessions side by
side, as a server's would. The clients' races (tabs opened together, lost answers retried, slow requests overtaken
by other tabs' refreshes) happen in simulated time, each request atomic at its arrival instant; the services run on
an event loop of their own (an anyio portal), the store's own locking exactly as in production.

The oracle is `simulate`'s, unchanged: it never asks the server what should have happened. What it learns from the
answers: 200 with a refresh token never seen before is a rotation, with one seen before a replay; a 401 (InvalidGrant)
that ended the session for reuse at that instant is a reuse detection.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
import json
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from sessionward._sim_clients import Grant, Outcome
from sessionward.clock import FakeClock
from sessionward.config import PolicySettings, load_settings
from sessionward.core.models import RefreshToken, Session
from sessionward.core.refresh import Reject, ReplaySuccessor, Rotate
from sessionward.core.session import EndReason
from sessionward.errors import InvalidGrant, InvalidToken
from sessionward.services.auth import LoginRequest
from sessionward.services.container import Services, open_services
from sessionward.services.tokens import IssuedSession, refresh_token_hash

# The simulation's second 0 on the real clock: a whole number, so claims' exp map back to whole seconds.
ORIGIN = 1_800_000_000
PASSWORD = "simulated user's passphrase"  # noqa: S105 - the simulated users' own
_T = TypeVar("_T")


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _exp_of(access_token: str) -> int:
    """The access token's exp claim, read without verifying (the client's own look at what it got)."""
    payload = access_token.split(".")[1]
    exp: int = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    return exp


class RealStore:
    """`SimStore` over the real services: times in and out are the simulation's seconds.

    With several nodes (Services over one database), requests go to them in turn, as through a load balancer
    without affinity: tabs of one session meet on different nodes. A node learns of sessions ended elsewhere from
    the store's feed before its next request (a server polls it every 50 ms; simulated requests are further apart)."""

    def __init__(self, portal: BlockingPortal, nodes: list[Services], clock: FakeClock, run: str) -> None:
        self._portal, self._nodes, self._clock, self._run = portal, nodes, clock, run
        self._svc = nodes[0]
        self._turn = 0
        self._stale: set[int] = set()  # nodes that have not yet polled the feed since a session ended
        self._sid_of: dict[str, str] = {}  # every refresh token handed out -> its session

    def _next_node(self) -> None:
        index = self._turn % len(self._nodes)
        self._turn += 1
        self._svc = self._nodes[index]
        if index in self._stale:
            self._stale.discard(index)
            self._portal.call(self._svc.sync_revocations)

    def _something_ended(self) -> None:
        current = self._nodes.index(self._svc)
        self._stale = {i for i in range(len(self._nodes)) if i != current}

    def _call(self, now: float, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        self._clock.set(ORIGIN + now)
        return self._portal.call(fn, *args)

    def _grant(self, issued: IssuedSession) -> Grant:
        sid = issued.session.sid
        self._sid_of[issued.refresh_token] = sid
        exp = _exp_of(issued.access_token) - ORIGIN
        return Grant(sid, issued.refresh_token, exp, issued.expires_in, issued.access_token)

    def login(self, sid: str, user_id: str, now: float) -> Grant:
        """One user per simulated session (so no session limit bites), from an address of its own."""
        name = f"sim-{self._run}-{user_id}"
        self._call(now, self._svc.auth.create_user, name, PASSWORD, False, "simulate")
        number = int(sid.lstrip("s") or 0)
        ip = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        issued = self._call(now, self._svc.auth.login, LoginRequest(name, PASSWORD, "web", ip, "simulated browser"))
        return self._grant(issued)

    def refresh(self, refresh: str, now: float) -> Outcome:
        self._next_node()
        try:
            issued = self._call(now, self._svc.sessions.refresh, refresh)
        except InvalidGrant:
            self._something_ended()
            sid = self._sid_of.get(refresh)
            session = self._call(now, self._svc.store.get_session, sid) if sid else None
            reuse = (
                session is not None
                and session.end_reason == "refresh_reuse"
                and session.ended_at is not None
                and session.ended_at == ORIGIN + now
            )
            return Outcome(Reject("refused", "refresh_reuse" if reuse else None))
        seen = issued.refresh_token in self._sid_of
        return Outcome(ReplaySuccessor() if seen else Rotate(), self._grant(issued))

    def end(self, sid: str, now: float, reason: EndReason) -> bool:
        self._next_node()
        ended = bool(self._call(now, self._svc.sessions.end_by_sid, sid, reason, "user"))
        if ended:
            self._something_ended()
        return ended

    def accepts(self, grant: Grant, now: float) -> bool:
        # Synchronous and in memory (the hot path has no store round trip): called here, while the services' loop
        # waits for the next portal call, it saves a thread hop per API call.
        self._next_node()
        self._clock.set(ORIGIN + now)
        try:
            self._svc.tokens.verify(grant.access, ORIGIN + now)
        except InvalidToken:
            return False
        return True

    def snapshot(self, refresh: str) -> tuple[RefreshToken | None, Session | None]:
        found = self._portal.call(self._svc.store.get_refresh_and_session, refresh_token_hash(refresh))
        if found is None:
            sid = self._sid_of.get(refresh)
            session = self._portal.call(self._svc.store.get_session, sid) if sid else None
            if session is None:
                return None, None
            # Forgotten once its grace passed: to the attacker, a token rotated out long ago.
            found = (RefreshToken(refresh_token_hash(refresh), session.sid, 0.0, "rotated", float("-inf")), session)
        token, session = found
        rotated_at = None if token.rotated_at is None else token.rotated_at - ORIGIN
        return dataclasses.replace(token, rotated_at=rotated_at), _shifted(session)


def _shifted(s: Session) -> Session:
    ended_at = None if s.ended_at is None else s.ended_at - ORIGIN
    return dataclasses.replace(
        s, created_at=s.created_at - ORIGIN, last_active_at=s.last_active_at - ORIGIN, ended_at=ended_at
    )


def run_merged(sessions: Iterator[Iterator[float]]) -> None:
    """Resumes every session generator in the order of its next event (ties: the lower index first)."""
    heap: list[tuple[float, int, Iterator[float]]] = []
    for index, gen in enumerate(sessions):
        first = next(gen, None)
        if first is not None:
            heap.append((first, index, gen))
    heapq.heapify(heap)
    while heap:
        _, index, gen = heapq.heappop(heap)
        after = next(gen, None)
        if after is not None:
            heapq.heappush(heap, (after, index, gen))


@contextmanager
def _postgresql_schema(url: str) -> Iterator[str]:
    """A schema of the run's own in the database at `url`; yields the URL that works in it, drops it after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from sessionward.stores.sql import engine_url

    schema = f"sessionward_sim_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            in_schema = make_url(url).update_query_dict({"options": f"-csearch_path={schema} -csynchronous_commit=off"})
            yield in_schema.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def settings_env(policy: PolicySettings, database_url: str) -> dict[str, str]:
    p = "SESSIONWARD_POLICIES__DEFAULT__"
    return {
        "SESSIONWARD_STORAGE__DATABASE_URL": database_url,
        # Users sign in once each; the production hash parameters are measured in `make bench`.
        "SESSIONWARD_PASSWORDS__TIME_COST": "1",
        "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024",
        "SESSIONWARD_PASSWORDS__PARALLELISM": "1",
        f"{p}ACCESS_TOKEN_TTL": _ms(policy.access_token_ttl),
        f"{p}IDLE_TIMEOUT": _ms(policy.idle_timeout),
        f"{p}ABSOLUTE_TIMEOUT": _ms(policy.absolute_timeout),
        f"{p}REFRESH_GRACE": _ms(policy.refresh_grace),
    }


@contextmanager
def real_store(
    backend: str, policy: PolicySettings, database_url: str = "", nodes: int = 1
) -> Iterator[tuple[RealStore, list[Services]]]:
    """The real services on `backend` ("sqlite": a temporary data dir; "postgresql": a fresh schema in the
    database at `database_url`), `nodes` of them over the one database, with the clock at the simulation's
    second 0."""
    if nodes < 1:
        raise ValueError("at least one node")
    with ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sessionward-simulate-"))
        if backend == "postgresql":
            if not database_url:
                raise ValueError("the postgresql store needs a database URL (--database-url)")
            url = stack.enter_context(_postgresql_schema(database_url))
        elif backend == "sqlite":
            url = ""
        else:
            raise ValueError(f"unknown store {backend!r}")
        portal = stack.enter_context(start_blocking_portal())
        clock = FakeClock(ORIGIN)
        settings = load_settings(None, settings_env(policy, url), data_dir=data_dir)
        opened: list[Services] = []
        for _ in range(nodes):  # one after the other: each finds the keys the first one made
            services = portal.call(open_services, settings, clock)
            stack.callback(portal.call, services.close)
            portal.call(services.keyring.ensure_keys, clock.now())
            opened.append(services)
        yield RealStore(portal, opened, clock, uuid.uuid4().hex[:8]), opened
