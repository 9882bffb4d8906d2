"""Hypothesis stateful tests over the real services: random interleavings of login (one to three in a row, up to
and over the session limit of 3, "reject" or "evict_oldest", also revoking the other sessions, also with a wrong or
retired password), two logins at once, refresh with the current token, the one just rotated out and older ones (also
right after other tabs rotated it several times, within and past its grace), the same token twice at once (on one
node and on two), an active user refreshing every live session, logout, ending a session by id (one's own or someone
else's), revoke others / all, password change (right and wrong), the sweeper, revocation polls, and clock moves:
small, large and onto the exact deadlines (idle, absolute, grace, token expiry).

Everything is in-process: two nodes (two Services over one SQLite file in a temp dir) share one FakeClock and one
event loop (a blocking portal). Node A does the work; node B verifies access tokens, takes half of the two-node
refreshes, and polls the revocation feed after every clock move, as a server would have done meanwhile. Callers act
as the HTTP API lets them: logout, revocations and password change come from a live session whose client holds a good
access token (refreshing first when it is spent). The machine keeps its own account (an oracle that never calls the
core rules) of every session: created, last refresh, its refresh-token chain, the successor pair of the token just
rotated out, whether and why the store has ended it, and every access token issued with the exp it must carry.

Invariants, after every step:
- the store's active sessions are exactly those the model has not seen ended, each ended one with the model's reason,
  and the sessions listed as alive are exactly the model's, with its deadline (a session of an active user never ends
  before absolute_timeout unless someone ended it);
- node A accepts an access token exactly when its session is neither ended nor dead by policy and now < exp + leeway,
  without polling the feed (a node learns its own endings at once); nothing is accepted past the absolute deadline;
- node B never rejects a good token, and accepts a dead one only if its session ended after B's last poll.
In the rules: a live session's current refresh token always rotates; a rotated-out one within its own grace
(however many rotations followed it) gets the very same pair it got the first time; later it is refused and ends that
session only; every issued token's exp is min(now + ttl, deadline - leeway) and expires_in / refresh_expires_in say so
to the second (a replay: what they said the first time, counted down).
"""

from __future__ import annotations

import base64
import json
import math
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sessionward.clock import FakeClock
from sessionward.config import Settings, load_settings
from sessionward.errors import (
    InvalidCredentials,
    InvalidGrant,
    InvalidToken,
    NotFound,
    SessionLimit,
    SessionwardError,
    WrongPassword,
)
from sessionward.services.auth import LoginRequest
from sessionward.services.container import Services, open_services
from sessionward.services.tokens import IssuedSession

TTL, IDLE, ABSOLUTE, LEEWAY, LIMIT = 60.0, 120.0, 600.0, 5.0, 3
START = 1_800_000_000.0
IP, UA = "127.0.0.1", "ua"
USERS = ("alice", "bob")
FIRST_PASSWORD = "correct horse battery staple"
Mode = Literal["reject", "evict_oldest"]


def service_env(grace: float, mode: Mode) -> dict[str, str]:
    return {
        "SESSIONWARD_PASSWORDS__TIME_COST": "1",
        "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024",
        "SESSIONWARD_PASSWORDS__PARALLELISM": "1",
        "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": f"{TTL:g}s",
        "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": f"{IDLE:g}s",
        "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": f"{ABSOLUTE:g}s",
        "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": f"{grace:g}s",
        "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER": str(LIMIT),
        "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": mode,
        "SESSIONWARD_LOGIN__MAX_ATTEMPTS_PER_IP": "100000",
        # Wrong-password logins are a rule here; throttling has its own tests.
        "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "100",
    }


def claims_of(token: str) -> dict[str, Any]:
    """The JWT payload, read without verifying (the model's own look at what was issued)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def both(first: Callable[..., Awaitable[Any]], second: Callable[..., Awaitable[Any]], *args: Any) -> list[Any]:
    """Runs first(*args) and second(*args) at once; each result is the value or the SessionwardError raised."""
    results: list[Any] = [None, None]

    async def one(i: int, fn: Callable[..., Awaitable[Any]]) -> None:
        try:
            results[i] = await fn(*args)
        except SessionwardError as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, 0, first)
        tg.start_soon(one, 1, second)
    return results


async def open_node(settings: Settings, clock: FakeClock) -> Services:
    svc = await open_services(settings, clock)
    await svc.keyring.ensure_keys(clock.now())
    return svc


# -- the model ----------------------------------------------------------------------------------------------------


@dataclass
class Access:
    token: str
    sid: str
    exp: int


@dataclass
class Sess:
    sid: str
    user: str
    created: float
    last_active: float
    chain: list[str]  # every refresh token issued, oldest first: chain[-1] is current, chain[-2] just rotated out
    access: list[Access] = field(default_factory=list)
    rotated_at: float | None = None  # when chain[-2] was rotated out
    successor: tuple[str, str] | None = None  # the (access, refresh) pair chain[-2] was answered with
    # Per rotated-out generation g: when chain[g] was rotated out, the pair it was answered with, that access
    # token's exp and the session's deadline then (what a replay of chain[g] must say again).
    rotations: dict[int, Rotation] = field(default_factory=dict)
    ended: str | None = None  # the end reason the store must show
    ended_seq: int = 0


@dataclass(frozen=True)
class Rotation:
    at: float
    pair: tuple[str, str]
    exp: int
    deadline: float


# (kind, end reason): ("rotate", None), ("replay", None), ("end", reason), ("refuse", None)
Outcome = tuple[str, str | None]


class ServiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stack = ExitStack()
        self.tmp = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="sessionward-stateful-"))
        self.portal: BlockingPortal = self.stack.enter_context(start_blocking_portal())
        self.clock = FakeClock(START)
        self.nodes: list[Services] = []
        self.sessions: dict[str, Sess] = {}
        self.order: list[str] = []
        self.user_ids: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        self.retired_passwords: dict[str, list[str]] = {u: [] for u in USERS}
        self.changes = 0
        self.seq = 0  # counts endings
        self.b_polled = 0  # the ending count when node B last polled the feed
        self.unchecked: list[str] = []  # ended in the model, reason not yet compared with the store
        self.grace = 0.0
        self.mode: Mode = "reject"

    def teardown(self) -> None:
        try:
            for node in self.nodes:
                self.portal.call(node.close)
        finally:
            self.stack.close()

    # -- plumbing ---------------------------------------------------------------------------------------------

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return self.portal.call(fn, *args)

    @property
    def a(self) -> Services:
        return self.nodes[0]

    @property
    def b(self) -> Services:
        return self.nodes[1]

    @property
    def now(self) -> float:
        return self.clock.now()

    @initialize(
        grace=st.sampled_from([10.0, 0.0]), mode=st.sampled_from(["reject", "evict_oldest"]), logins=st.integers(1, 3)
    )
    def start(self, grace: float, mode: Mode, logins: int) -> None:
        self.grace, self.mode = grace, mode
        cfg = load_settings(None, service_env(grace, mode), data_dir=self.tmp)
        self.nodes.append(self.call(open_node, cfg, self.clock))
        for user in USERS:
            self.user_ids[user] = self.call(self.a.auth.create_user, user, FIRST_PASSWORD, False, "test").user_id
            self.passwords[user] = FIRST_PASSWORD
        self.nodes.append(self.call(open_node, cfg, self.clock))
        for _ in range(logins):
            self.add_session("alice", self.call(self.a.auth.login, self.request("alice")))

    # -- the oracle -------------------------------------------------------------------------------------------

    def request(self, user: str, revoke: bool = False, password: str | None = None) -> LoginRequest:
        return LoginRequest(user, password or self.passwords[user], "web", IP, UA, revoke_other_sessions=revoke)

    def expiry(self, s: Sess) -> str | None:
        if self.now >= s.created + ABSOLUTE:
            return "absolute_expired"
        if self.now >= s.last_active + IDLE:
            return "idle_expired"
        return None

    def alive(self, s: Sess) -> bool:
        return s.ended is None and self.expiry(s) is None

    def accepts(self, s: Sess, tok: Access) -> bool:
        return self.alive(s) and self.now < tok.exp + LEEWAY

    def store_active(self, user: str | None = None) -> list[Sess]:
        return [s for s in self.ordered() if s.ended is None and user in (None, s.user)]

    def ordered(self) -> list[Sess]:
        return [self.sessions[sid] for sid in self.order]

    def any_alive(self) -> bool:
        return any(self.alive(s) for s in self.sessions.values())

    def actor(self, index: int) -> Sess:
        """A client of a live session about to call the API: it refreshes first when its access token is spent."""
        s = self.pick(index, [s for s in self.ordered() if self.alive(s)])
        if not self.accepts(s, s.access[-1]):
            self.present(s, len(s.chain) - 1)
        assert self.verifies(self.a, s.access[-1].token)
        return s

    def pick(self, index: int, among: list[Sess]) -> Sess:
        """An even index prefers sessions that are alive (most rules want those), an odd one takes any."""
        if index % 2 == 0:
            among = [s for s in among if self.alive(s)] or among
        return among[index // 2 % len(among)]

    def end(self, sid: str, reason: str) -> None:
        s = self.sessions[sid]
        if s.ended is None:
            self.seq += 1
            s.ended, s.ended_seq = reason, self.seq
            self.unchecked.append(sid)

    def refresh_outcome(self, s: Sess, generation: int) -> Outcome:
        if s.ended is not None:
            return ("refuse", None)
        expired = self.expiry(s)
        if expired is not None:
            return ("end", expired)
        if generation == len(s.chain) - 1:
            return ("rotate", None)
        if self.now <= s.rotations[generation].at + self.grace:
            return ("replay", None)
        return ("end", "refresh_reuse")

    def record_access(self, s: Sess, token: str, expires_in: int) -> None:
        """A token just issued for `s` (whose last_active is now): check its claims against the policy."""
        exp = math.floor(min(self.now + TTL, min(s.created + ABSOLUTE, s.last_active + IDLE) - LEEWAY))
        claims = claims_of(token)
        assert claims["sid"] == s.sid and claims["sub"] == self.user_ids[s.user]
        assert claims["exp"] == exp, f"exp {claims['exp']} != {exp} (created {s.created}, now {self.now})"
        assert claims["iat"] == math.floor(self.now)
        assert exp + LEEWAY <= s.created + ABSOLUTE, "an access token may outlive its session's absolute deadline"
        assert all(token != a.token for a in s.access)
        s.access.append(Access(token, s.sid, exp))
        self.check_lifetimes(s, exp, expires_in)

    def check_lifetimes(
        self, s: Sess, exp: int, expires_in: int, refresh_expires_in: int | None = None, then: float | None = None
    ) -> None:
        """expires_in / refresh_expires_in tell the client, to the second, what the service will honour (`then`:
        the deadline a replayed pair was issued with)."""
        assert expires_in >= 0 and abs(expires_in - max(0.0, exp - self.now)) < 1, (expires_in, exp, self.now)
        if refresh_expires_in is not None:
            deadline = min(s.last_active + IDLE, s.created + ABSOLUTE) if then is None else then
            assert abs(refresh_expires_in - max(0.0, deadline - self.now)) < 1, (refresh_expires_in, deadline)

    def add_session(self, user: str, issued: IssuedSession) -> Sess:
        sid = issued.session.sid
        assert sid not in self.sessions
        s = Sess(sid, user, self.now, self.now, [issued.refresh_token])
        self.sessions[sid] = s
        self.order.append(sid)
        self.record_access(s, issued.access_token, issued.expires_in)
        self.check_lifetimes(s, s.access[-1].exp, issued.expires_in, issued.refresh_expires_in)
        return s

    def admission(self, user: str, revoke: bool) -> tuple[bool, list[tuple[str, str]]]:
        """Whether a login is admitted, and the sessions it ends (all sessions share one IP)."""
        ends = [(s.sid, r) for s in self.store_active() if (r := self.expiry(s)) is not None]
        own = sorted((s for s in self.store_active(user) if self.alive(s)), key=lambda s: (s.created, s.sid))
        if revoke:
            ends += [(s.sid, "signed_out_elsewhere") for s in own]
            own = []
        excess = len(own) - LIMIT + 1
        if excess > 0:
            if self.mode == "reject":
                return False, ends
            ends += [(s.sid, "evicted") for s in own[:excess]]
        return True, ends

    def accept_refresh(self, s: Sess, kind: str | None, issued: Any, generation: int) -> None:
        assert isinstance(issued, IssuedSession), f"expected {kind}, got {issued!r}"
        assert issued.session.sid == s.sid
        if kind == "rotate":
            assert generation == len(s.chain) - 1
            assert issued.refresh_token not in s.chain
            s.rotated_at = s.last_active = self.now
            s.chain.append(issued.refresh_token)
            self.record_access(s, issued.access_token, issued.expires_in)
            s.successor = (issued.access_token, issued.refresh_token)
            deadline = min(s.last_active + IDLE, s.created + ABSOLUTE)
            s.rotations[generation] = Rotation(self.now, s.successor, s.access[-1].exp, deadline)
            self.check_lifetimes(s, s.access[-1].exp, issued.expires_in, issued.refresh_expires_in)
        else:
            assert kind == "replay"
            first = s.rotations[generation]
            assert (issued.access_token, issued.refresh_token) == first.pair, "a replay got another successor"
            self.check_lifetimes(s, first.exp, issued.expires_in, issued.refresh_expires_in, first.deadline)
        assert s.rotated_at == s.last_active

    def present(self, s: Sess, generation: int) -> None:
        """Presents one refresh token of `s` to node A and checks the answer against the oracle."""
        kind, reason = self.refresh_outcome(s, generation)
        event(f"refresh generation -{len(s.chain) - 1 - generation}: {kind} {reason or ''}".strip())
        if kind in ("rotate", "replay"):
            self.accept_refresh(s, kind, self.call(self.a.sessions.refresh, s.chain[generation]), generation)
            return
        with pytest.raises(InvalidGrant):
            self.call(self.a.sessions.refresh, s.chain[generation])
        if kind == "end":
            assert reason is not None
            self.end(s.sid, reason)

    def moved(self) -> None:
        """Time passed: node B polled the feed meanwhile, as the server does every 50 ms."""
        self.call(self.b.sync_revocations)
        self.b_polled = self.seq

    @rule(
        user=st.sampled_from(USERS),
        how=st.sampled_from(["plain", "revoking others", "wrong password"]),
        times=st.integers(1, 3),
    )
    def login(self, user: str, how: str, times: int) -> None:
        """One to three logins in a row (the quick way to the session limit)."""
        for _ in range(times):
            self.login_once(user, how)

    def login_once(self, user: str, how: str) -> None:
        if how == "wrong password":
            wrong = (self.retired_passwords[user] or ["not the password at all"])[-1]
            with pytest.raises(InvalidCredentials):
                self.call(self.a.auth.login, self.request(user, password=wrong))
            return
        revoke = how == "revoking others"
        admitted, ends = self.admission(user, revoke)
        if admitted:
            self.add_session(user, self.call(self.a.auth.login, self.request(user, revoke)))
        else:
            with pytest.raises(SessionLimit):
                self.call(self.a.auth.login, self.request(user, revoke))
        evicted = sum(reason == "evicted" for _, reason in ends)
        event(f"login {how}: {'admitted' if admitted else 'session limit'}{', evicting' if evicted else ''}")
        for sid, reason in ends:
            assert reason.endswith("_expired") or self.sessions[sid].user == user, "a login ended someone else's"
            self.end(sid, reason)

    @precondition(lambda self: self.mode == "reject")
    @rule(user=st.sampled_from(USERS))
    def concurrent_logins(self, user: str) -> None:
        """Two logins of one user at once: the limit admits exactly as many as it has room for."""
        _admitted, ends = self.admission(user, False)
        room = LIMIT - len([s for s in self.store_active(user) if self.alive(s)])
        results = self.call(both, self.a.auth.login, self.a.auth.login, self.request(user))
        issued = [r for r in results if isinstance(r, IssuedSession)]
        assert len(issued) == max(0, min(2, room)), results
        assert all(isinstance(r, (IssuedSession, SessionLimit)) for r in results), results
        event(f"concurrent logins: {len(issued)} admitted")
        for sid, reason in ends:
            self.end(sid, reason)
        for one in issued:
            self.add_session(user, one)

    # -- rules: refresh ---------------------------------------------------------------------------------------

    @rule(
        index=st.integers(0, 1000),
        back=st.sampled_from([0, 1, 2, 3, 5]),
        unknown=st.sampled_from([""] * 7 + ["x", "abcdefghijklmnop.secret", "not a token at all"]),
    )
    def refresh(self, index: int, back: int, unknown: str) -> None:
        """Presents the current token (back=0), the one just rotated out (1) or an older one, as far as the
        session's chain goes; with no session yet, or an `unknown` string, a token that never was."""
        if unknown or not self.order:
            with pytest.raises(InvalidGrant):
                self.call(self.a.sessions.refresh, unknown)
            return
        s = self.pick(index, self.ordered())
        self.present(s, max(0, len(s.chain) - 1 - back))

    @precondition(lambda self: self.any_alive())
    @rule(
        index=st.integers(0, 1000),
        rotations=st.integers(2, 4),
        back=st.integers(2, 5),
        pause=st.sampled_from([0, 1, 3]),
    )
    def overtaken(self, index: int, rotations: int, back: int, pause: int) -> None:
        """Tabs race: other tabs rotate the token several times, `pause` seconds apart, before a slow request
        (or a retried lost answer) presents one `back` generations old."""
        s = self.pick(index, [s for s in self.ordered() if self.alive(s)])
        for _ in range(rotations):
            self.present(s, len(s.chain) - 1)
            if pause:
                self.clock.advance(pause)
                self.moved()
        self.present(s, max(0, len(s.chain) - 1 - back))

    @precondition(lambda self: bool(self.order))
    @rule(index=st.integers(0, 1000), previous=st.booleans(), two_nodes=st.booleans())
    def concurrent_refresh(self, index: int, previous: bool, two_nodes: bool) -> None:
        """One token presented twice at once (two tabs; a retried request), on one node or on two."""
        s = self.pick(index, self.ordered())
        generation = len(s.chain) - (2 if previous and len(s.chain) >= 2 else 1)
        kind, reason = self.refresh_outcome(s, generation)
        second = self.b if two_nodes else self.a
        first_answer, second_answer = self.call(
            both, self.a.sessions.refresh, second.sessions.refresh, s.chain[generation]
        )
        event(f"concurrent refresh on {'two nodes' if two_nodes else 'one node'}: {kind} {reason or ''}".strip())
        if kind in ("rotate", "replay"):
            for answer in (first_answer, second_answer):
                assert isinstance(answer, IssuedSession), f"expected {kind}, got {answer!r}"
            assert (first_answer.access_token, first_answer.refresh_token) == (
                second_answer.access_token,
                second_answer.refresh_token,
            ), "one token presented twice at once got two different successors"
            self.accept_refresh(s, kind, first_answer, generation)
            self.accept_refresh(s, "replay", second_answer, generation)
            return
        assert isinstance(first_answer, InvalidGrant) and isinstance(second_answer, InvalidGrant)
        if kind == "end":
            assert reason is not None
            self.end(s.sid, reason)
            if two_nodes:
                # Either node may have been the one to end it; the other learns it from the feed.
                self.call(self.a.sync_revocations)
                self.moved()

    @rule(seconds=st.integers(1, 119))
    def keep_alive(self, seconds: int) -> None:
        """An active user: every live session refreshes, then less than idle_timeout passes."""
        for s in self.ordered():
            if self.alive(s):
                self.present(s, len(s.chain) - 1)
        self.clock.advance(seconds)
        self.moved()

    # -- rules: ending sessions -------------------------------------------------------------------------------

    @precondition(lambda self: self.any_alive())
    @rule(
        index=st.integers(0, 1000),
        how=st.sampled_from(["logout", "end one by id", "end others", "end all"]),
        victim=st.integers(0, 1000),
    )
    def end_sessions(self, index: int, how: str, victim: int) -> None:
        """What a caller holding a good access token can end: itself, one session by id (one of their own, unless
        it is over already; someone else's is "not found" and nothing ends), the others, or all."""
        actor = self.actor(index)
        uid = self.user_ids[actor.user]
        if how == "logout":
            self.call(self.a.sessions.end_own, uid, actor.sid, actor.sid, "logout")
            self.end(actor.sid, "logout")
        elif how == "end one by id":
            other = self.pick(victim, [s for s in self.ordered() if s.sid != actor.sid] or [actor])
            mine, open_ = other.user == actor.user, other.ended is None
            event(f"end a session by id: {'own' if mine else 'foreign'}, {'open' if open_ else 'ended'}")
            if mine and open_:
                self.call(self.a.sessions.end_own, uid, actor.sid, other.sid, "revoked")
                self.end(other.sid, "logout" if other.sid == actor.sid else "revoked")
            else:
                with pytest.raises(NotFound):
                    self.call(self.a.sessions.end_own, uid, actor.sid, other.sid, "revoked")
        else:
            scope: Literal["others", "all"] = "others" if how == "end others" else "all"
            expected = {s.sid for s in self.store_active(actor.user) if scope == "all" or s.sid != actor.sid}
            ended = self.call(self.a.sessions.end_scope, uid, actor.sid, scope)
            assert {s.sid for s in ended} == expected
            event(f"{how}: {len(expected)} ended")
            for sid in expected:
                self.end(sid, "revoked")

    @precondition(lambda self: self.any_alive())
    @rule(index=st.integers(0, 1000), right=st.booleans())
    def change_password(self, index: int, right: bool) -> None:
        actor = self.actor(index)
        user, uid = actor.user, self.user_ids[actor.user]
        current = self.call(self.a.store.get_session, actor.sid)
        self.changes += 1
        new = f"{FIRST_PASSWORD} #{self.changes}"
        if not right:
            with pytest.raises(WrongPassword):
                self.call(self.a.sessions.change_password, uid, current, "wrong " + new, new, IP, UA)
            return
        issued = self.call(self.a.sessions.change_password, uid, current, self.passwords[user], new, IP, UA)
        ended = self.store_active(user)
        event(f"password change: {len(ended)} ended")
        for s in ended:
            self.end(s.sid, "password_changed")
        self.retired_passwords[user].append(self.passwords[user])
        self.passwords[user] = new
        self.add_session(user, issued)

    @rule(which=st.sampled_from(["sweeper", "poll node A"]))
    def background(self, which: str) -> None:
        if which == "poll node A":
            self.call(self.a.sync_revocations)
            return
        expected = {s.sid: r for s in self.store_active() if (r := self.expiry(s)) is not None}
        ended = self.call(self.a.store.expire_sessions, dict(self.a.settings.policies), self.now)
        assert {s.sid for s in ended} == set(expected), "the sweeper ended a live session or missed a dead one"
        event(f"sweeper ended {len(ended)}")
        for sid, reason in expected.items():
            self.end(sid, reason)

    # -- rules: time ------------------------------------------------------------------------------------------

    @rule(large=st.booleans(), seconds=st.integers(0, 600))
    def advance(self, large: bool, seconds: int) -> None:
        """Small (1-30 s) and large (100-700 s) moves."""
        self.clock.advance(100 + seconds if large else 1 + seconds % 30)
        self.moved()

    @precondition(lambda self: self.any_alive())
    @rule(
        index=st.integers(0, 1000),
        deadline=st.sampled_from(["idle", "absolute", "grace", "access"]),
        offset=st.one_of(st.just(0.0), st.sampled_from([-1.0, -0.5, 0.5, 1.0])),
    )
    def advance_to_deadline(self, index: int, deadline: str, offset: float) -> None:
        """Moves the clock onto (or just around) a deadline of a live session: the inclusive edges live there."""
        s = self.pick(index, [s for s in self.ordered() if self.alive(s)])
        at = {
            "idle": s.last_active + IDLE,
            "absolute": s.created + ABSOLUTE,
            "grace": (s.rotated_at if s.rotated_at is not None else s.created) + self.grace,
            "access": s.access[-1].exp + LEEWAY,
        }[deadline] + offset
        if at > self.now:
            event(f"clock onto a deadline: {deadline} {offset:+g}")
            self.clock.set(at)
            self.moved()

    # -- rules and invariants: access tokens ------------------------------------------------------------------

    def verifies(self, node: Services, token: str) -> bool:
        try:
            node.tokens.verify(token, self.now)
        except InvalidToken:
            return False
        return True

    @invariant()
    def store_agrees(self) -> None:
        active: set[str] = set()
        for user, uid in self.user_ids.items():
            active |= {s.sid for s in self.call(self.a.store.list_sessions, uid)}
            # What "where you're signed in" lists: alive by policy at this instant, with the model's deadline.
            listed = {s.sid: self.a.sessions.expires_at(s) for s in self.call(self.a.sessions.alive_sessions, uid)}
            model = {s.sid: min(s.created + ABSOLUTE, s.last_active + IDLE) for s in self.ordered() if s.user == user}
            assert listed == {sid: model[sid] for sid in model if self.alive(self.sessions[sid])}, (listed, self.now)
        expected = {s.sid for s in self.store_active()}
        assert active == expected, (
            f"still active in the store but ended in the model: {[self.sessions[x] for x in active - expected]}; "
            f"ended in the store but not in the model: {[self.sessions[x] for x in expected - active]}"
        )
        for sid in self.unchecked:
            stored = self.call(self.a.store.get_session, sid)
            assert stored is not None and stored.state == "ended"
            assert stored.end_reason == self.sessions[sid].ended, (stored.end_reason, self.sessions[sid])
        self.unchecked.clear()

    @invariant()
    def tokens_obey_their_sessions(self) -> None:
        for s in self.ordered():
            for tok in s.access:
                expected = self.accepts(s, tok)
                on_a = self.verifies(self.a, tok.token)
                assert on_a == expected, (
                    f"node A {'accepts' if on_a else 'rejects'} a token the model "
                    f"{'accepts' if expected else 'rejects'}: now {self.now}, exp {tok.exp}, {s}"
                )
                if on_a:
                    assert self.now < s.created + ABSOLUTE and self.now < s.last_active + IDLE
                on_b = self.verifies(self.b, tok.token)
                if on_b != expected:
                    assert on_b, "node B rejects a good token"
                    assert s.ended is not None and s.ended_seq > self.b_polled, (
                        f"node B still accepts a dead token after polling: now {self.now}, {s}"
                    )


ServiceMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestServiceMachine = ServiceMachine.TestCase


# -- focused examples ---------------------------------------------------------------------------------------------


@dataclass
class Nodes:
    clock: FakeClock
    a: Services
    b: Services
    alice: str  # user id


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[Nodes]:
    clock = FakeClock(START)
    cfg = load_settings(None, service_env(10.0, "reject"), data_dir=str(tmp_path))
    a = await open_node(cfg, clock)
    b = await open_node(cfg, clock)
    try:
        alice = (await a.auth.create_user("alice", FIRST_PASSWORD, False, "test")).user_id
        yield Nodes(clock, a, b, alice)
    finally:
        await a.close()
        await b.close()


def alive_on(node: Services, token: str, now: float) -> bool:
    try:
        node.tokens.verify(token, now)
    except InvalidToken:
        return False
    return True


def alice_login() -> LoginRequest:
    return LoginRequest("alice", FIRST_PASSWORD, "web", IP, UA)


@pytest.mark.anyio
async def test_one_token_twice_at_once_on_two_nodes_then_reuse_ends_only_its_session(nodes: Nodes) -> None:
    """Two tabs refresh one token on two nodes at once: one successor for both, also for a retry within the grace;
    after the grace the same token is reuse, which ends that session (at once on the node that saw it, after the
    next poll on the other) and no other."""
    n = nodes
    first = await n.a.auth.login(alice_login())
    other = await n.a.auth.login(alice_login())
    n.clock.advance(30)
    on_a, on_b = await both(n.a.sessions.refresh, n.b.sessions.refresh, first.refresh_token)
    assert isinstance(on_a, IssuedSession) and isinstance(on_b, IssuedSession)
    assert (on_a.access_token, on_a.refresh_token) == (on_b.access_token, on_b.refresh_token)
    n.clock.advance(10)  # the grace is inclusive
    retry = await n.b.sessions.refresh(first.refresh_token)
    assert (retry.access_token, retry.refresh_token) == (on_a.access_token, on_a.refresh_token)

    n.clock.advance(0.5)
    with pytest.raises(InvalidGrant):
        await n.b.sessions.refresh(first.refresh_token)
    now = n.clock.now()
    assert not alive_on(n.b, on_a.access_token, now), "the node that detected reuse must reject at once"
    assert alive_on(n.a, on_a.access_token, now), "node A has not polled yet (it may lag up to a poll)"
    await n.a.sync_revocations()
    assert not alive_on(n.a, on_a.access_token, now)
    with pytest.raises(InvalidGrant):
        await n.a.sessions.refresh(on_a.refresh_token)  # the successor dies with its session
    ended = await n.a.store.get_session(first.session.sid)
    assert ended is not None and ended.end_reason == "refresh_reuse"
    assert [s.sid for s in await n.a.store.list_sessions(n.alice)] == [other.session.sid]
    assert alive_on(n.a, other.access_token, now) and alive_on(n.b, other.access_token, now)
    assert (await n.a.sessions.refresh(other.refresh_token)).session.sid == other.session.sid


@pytest.mark.anyio
async def test_an_active_session_lives_to_its_absolute_deadline_and_no_token_outlives_it(nodes: Nodes) -> None:
    """Refreshing every 100 s keeps a session alive up to the absolute deadline and not an instant longer: the
    last access tokens are capped so that exp + leeway is the deadline. Meanwhile an idle session stops counting
    toward the limit before any sweeper runs, and the login that finds it ends it."""
    n = nodes
    active = await n.a.auth.login(alice_login())
    idle = await n.a.auth.login(alice_login())
    n.clock.advance(1)
    third = await n.a.auth.login(alice_login())
    with pytest.raises(SessionLimit):
        await n.a.auth.login(alice_login())
    current = active
    while n.clock.now() + 100 < START + ABSOLUTE:
        n.clock.advance(100)
        current = await n.a.sessions.refresh(current.refresh_token)
        third = await n.a.sessions.refresh(third.refresh_token)
    # `idle` has been idle since START: dead, not yet swept, and it must not block a login; the login ends it.
    fourth = await n.a.auth.login(alice_login())
    gone = await n.a.store.get_session(idle.session.sid)
    assert gone is not None and gone.end_reason == "idle_expired"
    with pytest.raises(SessionLimit):
        await n.a.auth.login(alice_login())

    n.clock.set(START + ABSOLUTE - 0.5)
    last = await n.a.sessions.refresh(current.refresh_token)
    assert claims_of(last.access_token)["exp"] == START + ABSOLUTE - LEEWAY
    assert last.refresh_expires_in == 0 and last.expires_in == 0  # what is left is under a second
    assert alive_on(n.a, last.access_token, n.clock.now()) and alive_on(n.b, last.access_token, n.clock.now())
    n.clock.set(START + ABSOLUTE)
    assert not alive_on(n.a, last.access_token, n.clock.now()) and not alive_on(n.b, last.access_token, n.clock.now())
    with pytest.raises(InvalidGrant):
        await n.a.sessions.refresh(last.refresh_token)
    ended = await n.a.store.get_session(active.session.sid)
    assert ended is not None and ended.end_reason == "absolute_expired"
    assert (await n.a.sessions.refresh(fourth.refresh_token)).session.sid == fourth.session.sid  # younger: alive


@pytest.mark.anyio
async def test_a_login_in_flight_during_a_password_change_gets_no_session(
    nodes: Nodes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever knows the old password (the reason to change it) logs in while the owner changes it: the login
    read the old hash and verified it, then the change commits, then the login creates its session. After the
    change, no session authenticated by the old password may be alive."""
    n = nodes
    owner = await n.a.auth.login(alice_login())
    checked, changed = anyio.Event(), anyio.Event()
    real_verify = n.a.passwords.verify

    async def verify_then_wait(stored_hash: str | None, password: str) -> bool:
        ok = await real_verify(stored_hash, password)
        checked.set()
        await changed.wait()  # the change commits while the login sits between its check and its session
        return ok

    monkeypatch.setattr(n.a.passwords, "verify", verify_then_wait)
    results: dict[str, Any] = {}

    async def intruder() -> None:
        try:
            results["intruder"] = await n.a.auth.login(alice_login())
        except SessionwardError as exc:
            results["intruder"] = exc

    async def change() -> None:
        await checked.wait()  # the intruder's login is past its password check
        current = await n.b.store.get_session(owner.session.sid)
        assert current is not None
        await n.b.sessions.change_password(n.alice, current, FIRST_PASSWORD, "a brand new passphrase", IP, UA)
        changed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(intruder)
        tg.start_soon(change)
    got = results["intruder"]
    if isinstance(got, IssuedSession):  # admitted: then its session must at least be dead now
        await n.a.sync_revocations()
        stored = await n.a.store.get_session(got.session.sid)
        assert stored is not None and stored.state == "ended", "a session won with the old password outlives the change"
        assert not alive_on(n.a, got.access_token, n.clock.now())
    else:
        assert isinstance(got, InvalidCredentials)
