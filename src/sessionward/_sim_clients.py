"""The world of `sessionward.simulate`: `CasStore`, the store model the real rules run over, and the simulated
people and browsers (who opens how many tabs, when, and how a tab decides when to refresh).

Everything here is drawn from one `random.Random` per session, so a run is reproducible from its seed. Times are
true (server) seconds; a client's own clock is off by `skew` seconds, which matters only to clients that compute
their refresh time from the absolute `exp` claim.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from sessionward.config import PolicySettings
from sessionward.core.models import RefreshToken, Session
from sessionward.core.refresh import RefreshDecision, ReplaySuccessor, Rotate, decide_refresh
from sessionward.core.session import EndReason, is_alive, token_lifetimes


@dataclass(frozen=True, slots=True)
class Grant:
    """What a successful login or refresh hands the client: a refresh token and an access token's exp."""

    sid: str
    refresh: str
    access_exp: int
    expires_in: int
    access: str = field(default="", repr=False)  # the access token itself (real stores; the model needs none)


@dataclass(slots=True)
class Row:
    token: RefreshToken
    successor: Grant | None = None


def _touched(s: Session, now: float) -> Session:
    """`s` with last_active_at = now (dataclasses.replace is several times slower on this hot path)."""
    return Session(
        s.sid, s.user_id, s.client_id, s.policy, s.created_at, now, s.auth_time, s.acr, s.amr, s.ip, s.user_agent
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    decision: RefreshDecision
    grant: Grant | None = None
    cas_lost: bool = False


class SimStore(Protocol):
    """What the simulated clients talk to: the model below, or the real services over a real store (`_sim_real`).
    Times are the simulation's seconds."""

    def login(self, sid: str, user_id: str, now: float) -> Grant: ...

    def refresh(self, refresh: str, now: float) -> Outcome: ...

    def end(self, sid: str, now: float, reason: EndReason) -> bool: ...

    def accepts(self, grant: Grant, now: float) -> bool:
        """Whether the server accepts the grant's access token at `now`."""
        ...

    def snapshot(self, refresh: str) -> tuple[RefreshToken | None, Session | None]:
        """The token as stored and its session (the attacker's look at the database)."""
        ...


class CasStore:
    """Sessions and refresh-token rows with the real store's semantics.

    Rotate = CAS on (hash, state=current, session active): mark the row rotated at now, keep the successor pair on
    it, insert the successor as current, set the session's last_active_at. A lost CAS re-reads and decides again.
    ReplaySuccessor = the pair stored on the old row. Reject with end_session = end the session with that reason.
    """

    def __init__(self, policy: PolicySettings) -> None:
        self.policy = policy
        self.sessions: dict[str, Session] = {}
        self.rows: dict[str, Row] = {}
        self._next = 0

    def _new_hash(self) -> str:
        self._next += 1
        return f"h{self._next}"

    def _grant(self, session: Session, refresh: str, now: float) -> Grant:
        p = self.policy
        exp = token_lifetimes(session, p, p.access_token_ttl, now).access_expires_at
        return Grant(session.sid, refresh, exp, max(0, exp - math.floor(now)))

    def login(self, sid: str, user_id: str, now: float, ip: str = "198.51.100.7") -> Grant:
        session = Session(sid, user_id, "web", self.policy.name, now, now, now, "pwd", ("pwd",), ip, "sim")
        self.sessions[sid] = session
        h = self._new_hash()
        self.rows[h] = Row(RefreshToken(h, sid, now))
        return self._grant(session, h, now)

    def snapshot(self, refresh: str) -> tuple[RefreshToken | None, Session | None]:
        row = self.rows.get(refresh)
        if row is None:
            return None, None
        return row.token, self.sessions.get(row.token.sid)

    def decide(self, refresh: str, now: float) -> RefreshDecision:
        token, session = self.snapshot(refresh)
        return decide_refresh(token, session, self.policy, now)

    def apply(self, refresh: str, decision: RefreshDecision, now: float, cas_lost: bool = False) -> Outcome:
        """Commit a decision taken on an earlier snapshot, as the store does."""
        row = self.rows.get(refresh)
        if isinstance(decision, Rotate):
            session = self.sessions[row.token.sid] if row is not None else None
            if row is None or session is None or row.token.state != "current" or session.state != "active":
                return self.apply(refresh, self.decide(refresh, now), now, cas_lost=True)
            session = _touched(session, now)
            self.sessions[session.sid] = session
            successor = self._new_hash()
            self.rows[successor] = Row(RefreshToken(successor, session.sid, now))
            row.token = RefreshToken(refresh, session.sid, row.token.created_at, "rotated", now)
            row.successor = self._grant(session, successor, now)
            return Outcome(decision, row.successor, cas_lost)
        if isinstance(decision, ReplaySuccessor):
            if row is None or row.successor is None:
                raise AssertionError("a replay needs a rotated row with its successor")
            return Outcome(decision, row.successor, cas_lost)
        if decision.end_session is not None and row is not None:
            self.end(row.token.sid, now, decision.end_session)
        return Outcome(decision, None, cas_lost)

    def refresh(self, refresh: str, now: float) -> Outcome:
        return self.apply(refresh, self.decide(refresh, now), now)

    def end(self, sid: str, now: float, reason: EndReason) -> bool:
        session = self.sessions.get(sid)
        if session is None or session.state != "active":
            return False
        self.sessions[sid] = replace(session, state="ended", ended_at=now, end_reason=reason)
        return True

    def accepts(self, grant: Grant, now: float) -> bool:
        return self.access_ok(grant.sid, grant.access_exp, now)

    def access_ok(self, sid: str, exp: int, now: float) -> bool:
        """An access token of `sid` expiring at `exp`, used at `now`: its exp and its session's liveness."""
        session = self.sessions.get(sid)
        return now < exp and session is not None and is_alive(session, self.policy, now)

    def current_rows(self, sid: str) -> int:
        return sum(1 for r in self.rows.values() if r.token.sid == sid and r.token.state == "current")


# The network and the browsers.
MAX_NETWORK_DELAY: Final = 2.0  # seconds, each way, uniform
LOST_RESPONSE_RATE: Final = 0.02  # a refresh response that never reaches the client
RETRY_BACKOFF: Final = (1.0, 3.0)  # seconds before a client retries the same token after a lost response
MAX_CLOCK_SKEW: Final = 300.0  # client clocks are off by up to +-5 minutes
EXP_BASED_SHARE: Final = 0.15  # clients that compute the refresh time from `exp` with their own clock
MIN_TIMER: Final = 10.0  # no client refreshes more often than this on its own timer
BACKGROUND_TAB_SHARE: Final = 0.3  # background tabs: the browser throttles their timers by up to a minute
TAB_WEIGHTS: Final = (0.30, 0.25, 0.20, 0.15, 0.10)  # 1 to 5 tabs
TAB_OPEN_SPREAD: Final = 15.0  # tabs reopened after a break load within this many seconds (they race)
MEAN_API_INTERVAL: Final = 90.0  # seconds between the user's API calls while active

# The working day.
DAY_LENGTH: Final = (7 * 3600.0, 13 * 3600.0)  # some days run past a 12 h absolute limit
ACTIVE_PERIOD: Final = (10 * 60.0, 3 * 3600.0)
LONG_BREAK_SHARE: Final = 0.2  # breaks longer than idle_timeout: the user comes back to a dead session
LOGOUT_SHARE: Final = 0.4  # users who log out at the end of the day instead of just closing the tabs
START_SPREAD: Final = 3600.0


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """One person with one browser, for one session."""

    skew: float  # client clock minus true time
    exp_based: bool  # computes the refresh time from `exp` (sees its skew) rather than from `expires_in`
    margin: float  # refresh this many seconds before the access token expires
    periods: tuple[tuple[float, float, int], ...]  # (tabs open at, all tabs closed at, number of tabs)
    logs_out: bool  # logs out when the day ends
    background: tuple[bool, ...]  # per tab index: throttled background tab


def make_profile(rng: random.Random, idle_timeout: float) -> ClientProfile:
    start = rng.uniform(0.0, START_SPREAD)
    day_end = start + rng.uniform(*DAY_LENGTH)
    periods: list[tuple[float, float, int]] = []
    t = start
    while t < day_end:
        end = min(t + rng.uniform(*ACTIVE_PERIOD), day_end)
        periods.append((t, end, rng.choices(range(1, 6), TAB_WEIGHTS)[0]))
        if rng.random() < LONG_BREAK_SHARE:
            gap = rng.uniform(1.05 * idle_timeout, 4.0 * idle_timeout)
        else:
            gap = rng.uniform(5.0, 0.9 * idle_timeout)
        t = end + gap
    return ClientProfile(
        skew=rng.uniform(-MAX_CLOCK_SKEW, MAX_CLOCK_SKEW),
        exp_based=rng.random() < EXP_BASED_SHARE,
        margin=rng.uniform(20.0, 90.0),
        periods=tuple(periods),
        logs_out=rng.random() < LOGOUT_SHARE,
        background=tuple(rng.random() < BACKGROUND_TAB_SHARE for _ in range(5)),
    )


def refresh_delay(profile: ClientProfile, tab: int, received_at: float, expires_in: int, exp: int, u: float) -> float:
    """Seconds from receiving a token pair until this tab's timer fires for the next refresh.

    `u` is a uniform [0, 1) draw for timer jitter. A relative client waits `expires_in - margin`; an exp-based
    client aims at `exp - margin` on its own clock, so a fast clock refreshes early and a slow one late (its API
    calls then fail with an expired access token first, and the 401 triggers the refresh).
    """
    margin = min(profile.margin, 0.3 * expires_in)
    wait = exp - margin - (received_at + profile.skew) if profile.exp_based else expires_in - margin
    jitter = 60.0 * u if profile.background[tab] else u
    return max(wait, MIN_TIMER) + jitter
