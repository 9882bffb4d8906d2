"""Random interleavings of logins, refreshes (current, older, concurrent), logouts, revocations, password changes,
limit hits, access-token use and clock moves over the core rules and the compare-and-set store model.

The model keeps its own account of what should be true (an oracle that never calls the core): which sessions
someone ended, and each session's creation and last rotation. Invariants: a session someone ended is ended in the
store, and no other is; a session nobody ended is alive exactly while it is within idle_timeout of its last
rotation and before absolute_timeout; no refresh or access token is accepted for a dead session; at most one
current refresh token per session; a token presented again within the grace gets the very same successor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sessionward.config import PolicySettings
from sessionward.core.limits import admit
from sessionward.core.refresh import Reject, ReplaySuccessor, Rotate
from sessionward.core.session import EndReason, is_alive
from sessionward.simulate import CasStore, Grant

USERS = ("alice", "bob")
IPS = ("192.0.2.1", "192.0.2.2")


@dataclass
class Known:
    """What the oracle knows of one session, and what its client holds."""

    user: str
    ip: str
    created: float
    last_active: float
    chain: list[str]  # refresh tokens in issue order; the last one is the client's current token
    grants: list[Grant] = field(default_factory=list)
    ended: bool = False


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_700_000_000.0
        self.known: dict[str, Known] = {}
        self.next_sid = 0
        self.policy = PolicySettings("default")
        self.store = CasStore(self.policy)

    @initialize(
        mode=st.sampled_from(["reject", "evict_oldest"]),
        grace=st.sampled_from([0.0, 5.0, 10.0]),
        per_user=st.integers(1, 3),
        per_ip=st.integers(1, 4),
    )
    def configure(self, mode: Literal["reject", "evict_oldest"], grace: float, per_user: int, per_ip: int) -> None:
        self.policy = PolicySettings(
            "default",
            access_token_ttl=60.0,
            idle_timeout=300.0,
            absolute_timeout=3600.0,
            refresh_grace=grace,
            max_sessions_per_user=per_user,
            max_sessions_per_ip=per_ip,
            on_session_limit=mode,
        )
        self.store = CasStore(self.policy)

    # --- the oracle ---------------------------------------------------------------------------------------------

    def should_be_alive(self, sid: str) -> bool:
        k = self.known[sid]
        p = self.policy
        return not k.ended and self.now < k.created + p.absolute_timeout and self.now < k.last_active + p.idle_timeout

    def end_by_someone(self, sid: str, reason: EndReason) -> None:
        self.store.end(sid, self.now, reason)
        self.known[sid].ended = True

    def pick(self, index: int, live_only: bool = False) -> str | None:
        """A session by index; an even index prefers the ones that should be alive (most rules want those)."""
        sids = sorted(sid for sid, k in self.known.items() if not (live_only and k.ended))
        if index % 2 == 0:
            sids = [sid for sid in sids if self.should_be_alive(sid)] or sids
        return sids[index // 2 % len(sids)] if sids else None

    def states(self) -> dict[str, str]:
        return {sid: s.state for sid, s in self.store.sessions.items()}

    def check_granted(self, sid: str, granted: Grant) -> None:
        assert self.should_be_alive(sid), "a refresh was granted for a session that should be dead"
        assert granted.access_exp <= self.known[sid].created + self.policy.absolute_timeout
        self.known[sid].grants.append(granted)

    def after_refusal(self, sid: str, decision: Reject) -> None:
        if decision.end_session is not None:
            self.known[sid].ended = True  # the store ended it: for its expiry, or for reuse (ended by someone)

    # --- rules --------------------------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), ip=st.sampled_from(IPS), revoke_others=st.booleans())
    def login(self, user: str, ip: str, revoke_others: bool) -> None:
        active = [s for s in self.store.sessions.values() if s.state == "active"]
        mine = [s for s in active if s.user_id == user]
        here = [s for s in active if s.ip == ip]
        admission = admit(mine, here, user, self.policy, self.now, revoke_others)
        for sid, reason in admission.end:
            if reason in ("idle_expired", "absolute_expired"):
                assert not self.should_be_alive(sid), "admit ended a live session as expired"
            else:
                assert self.store.sessions[sid].user_id == user, "a login ended another user's session"
                assert self.should_be_alive(sid)
            self.end_by_someone(sid, reason)
        event(f"login: {admission.refused_by or 'admitted'}, ended {sorted({r for _, r in admission.end})}")
        if admission.refused_by is not None:
            return
        sid = f"s{self.next_sid}"
        self.next_sid += 1
        granted = self.store.login(sid, user, self.now, ip)
        self.known[sid] = Known(user, ip, self.now, self.now, [granted.refresh], [granted])

    @rule(index=st.integers(0, 50))
    def refresh(self, index: int) -> None:
        sid = self.pick(index)
        if sid is None:
            return
        alive = self.should_be_alive(sid)
        out = self.store.refresh(self.known[sid].chain[-1], self.now)
        event(f"current token: {type(out.decision).__name__}")
        if isinstance(out.decision, Reject):
            assert not alive, f"the current token of a live session was refused: {out.decision}"
            self.after_refusal(sid, out.decision)
            return
        assert isinstance(out.decision, Rotate)  # the client's token is always the current one
        assert out.grant is not None
        self.check_granted(sid, out.grant)
        self.known[sid].last_active = self.now
        self.known[sid].chain.append(out.grant.refresh)

    @rule(index=st.integers(0, 50), back=st.integers(1, 3))
    def refresh_with_an_older_token(self, index: int, back: int) -> None:
        rotated = sorted(sid for sid, k in self.known.items() if len(k.chain) > 1)
        live = [sid for sid in rotated if self.should_be_alive(sid)]
        candidates = live if live and index % 4 else rotated
        if not candidates:
            return
        sid = candidates[index % len(candidates)]
        k = self.known[sid]
        old = k.chain[max(0, len(k.chain) - 1 - back)]
        row = self.store.rows[old]
        assert row.token.state == "rotated"
        assert row.token.rotated_at is not None
        within = self.now - row.token.rotated_at <= self.policy.refresh_grace
        alive = self.should_be_alive(sid)
        before = self.states()
        out = self.store.refresh(old, self.now)
        event(f"older token: {'dead' if not alive else 'within grace' if within else 'reuse'}")
        if not alive:
            assert isinstance(out.decision, Reject)
            self.after_refusal(sid, out.decision)
        elif within:
            assert isinstance(out.decision, ReplaySuccessor)
            assert out.grant == row.successor  # the very same successor pair
            assert out.grant is not None
            self.check_granted(sid, out.grant)
        else:
            assert out.decision == Reject("refresh_token_reuse", "refresh_reuse")
            self.known[sid].ended = True
            after = self.states()
            assert {x for x in after if after[x] != before[x]} == {sid}, "reuse ended another session"

    @rule(index=st.integers(0, 50))
    def concurrent_refresh(self, index: int) -> None:
        """Two presentations of the client's token, both decided before either result is stored."""
        sid = self.pick(index)
        if sid is None:
            return
        token = self.known[sid].chain[-1]
        alive = self.should_be_alive(sid)
        first, second = self.store.decide(token, self.now), self.store.decide(token, self.now)
        one = self.store.apply(token, first, self.now)
        two = self.store.apply(token, second, self.now)
        event(f"concurrent: {'alive' if alive else 'dead'}")
        if not alive:
            assert isinstance(one.decision, Reject)
            assert isinstance(two.decision, Reject)
            self.after_refusal(sid, one.decision)
            return
        assert isinstance(one.decision, Rotate)
        assert two.cas_lost, "the second compare-and-set must lose"
        assert isinstance(two.decision, ReplaySuccessor)
        assert one.grant is not None
        assert two.grant == one.grant  # idempotent: both callers get the same successor pair
        self.check_granted(sid, one.grant)
        self.known[sid].last_active = self.now
        self.known[sid].chain.append(one.grant.refresh)

    @rule(index=st.integers(0, 50))
    def logout(self, index: int) -> None:
        sid = self.pick(index, live_only=True)
        if sid is not None:
            self.end_by_someone(sid, "logout")

    @rule(index=st.integers(0, 50))
    def revoke_others(self, index: int) -> None:
        sid = self.pick(index, live_only=True)
        if sid is None:
            return
        user = self.known[sid].user
        for other, k in self.known.items():
            if other != sid and k.user == user and not k.ended:
                self.end_by_someone(other, "signed_out_elsewhere")

    @rule(user=st.sampled_from(USERS))
    def password_change(self, user: str) -> None:
        for sid, k in self.known.items():
            if k.user == user and not k.ended:
                self.end_by_someone(sid, "password_changed")

    @rule(seconds=st.floats(0.0, 30.0))
    def small_clock_move(self, seconds: float) -> None:
        self.now += seconds

    @rule(seconds=st.sampled_from([60.0, 299.0, 300.0, 301.0, 1000.0, 3600.0]))
    def large_clock_move(self, seconds: float) -> None:
        self.now += seconds

    @rule(index=st.integers(0, 50), which=st.integers(0, 20))
    def use_access_token(self, index: int, which: int) -> None:
        sid = self.pick(index)
        if sid is None:
            return
        grants = self.known[sid].grants
        granted = grants[-1 - which % len(grants)]
        accepted = self.store.access_ok(granted.sid, granted.access_exp, self.now)
        event(f"access token: {'accepted' if accepted else 'refused'}")
        if accepted:
            assert self.should_be_alive(sid), "an access token was accepted for a dead session"
            assert self.now < granted.access_exp
        elif self.should_be_alive(sid):
            assert self.now >= granted.access_exp, "a live session's unexpired access token was refused"

    # --- invariants ---------------------------------------------------------------------------------------------

    @invariant()
    def ended_exactly_when_someone_ended_it(self) -> None:
        for sid, k in self.known.items():
            assert (self.store.sessions[sid].state == "ended") == k.ended

    @invariant()
    def alive_exactly_while_the_policy_allows(self) -> None:
        for sid in self.known:
            assert is_alive(self.store.sessions[sid], self.policy, self.now) == self.should_be_alive(sid)

    @invariant()
    def at_most_one_current_refresh_token(self) -> None:
        for sid in self.known:
            assert self.store.current_rows(sid) <= 1


SessionMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestSessionMachine = SessionMachine.TestCase
