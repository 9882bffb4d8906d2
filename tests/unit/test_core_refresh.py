"""decide_refresh: rotate a current token, replay the successor within the grace (inclusive), reuse after it."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from sessionward.config import PolicySettings
from sessionward.core.models import RefreshToken, Session
from sessionward.core.refresh import Reject, ReplaySuccessor, Rotate, decide_refresh, forget_rotated_before
from sessionward.core.session import expiry_reason

POLICY = PolicySettings("default")
T0 = 1_700_000_000.0


def session(created: float = T0, last_active: float | None = None, ended: bool = False) -> Session:
    return Session(
        sid="sid",
        user_id="u1",
        client_id="web",
        policy="default",
        created_at=created,
        last_active_at=created if last_active is None else last_active,
        auth_time=created,
        acr="pwd",
        amr=("pwd",),
        ip="192.0.2.1",
        user_agent="test",
        state="ended" if ended else "active",
    )


def current(created: float = T0) -> RefreshToken:
    return RefreshToken("h1", "sid", created)


def rotated(at: float) -> RefreshToken:
    return RefreshToken("h1", "sid", T0, "rotated", at)


@st.composite
def policies(draw: st.DrawFn) -> PolicySettings:
    idle = draw(st.floats(1.0, 100_000.0))
    absolute = draw(st.floats(idle, 1_000_000.0))
    return PolicySettings(
        "p",
        access_token_ttl=draw(st.floats(0.001, idle)),
        idle_timeout=idle,
        absolute_timeout=absolute,
        refresh_grace=draw(st.integers(0, int(idle * 990))) / 1000,  # configured durations are whole ms
    )


# --- examples ---------------------------------------------------------------------------------------------------


def test_a_current_token_rotates() -> None:
    assert decide_refresh(current(), session(), POLICY, T0 + 10) == Rotate()


def test_the_rotated_token_within_the_grace_gets_the_successor() -> None:
    s = session(last_active=T0 + 100)
    assert decide_refresh(rotated(T0 + 100), s, POLICY, T0 + 101) == ReplaySuccessor()


def test_the_grace_is_inclusive() -> None:
    s = session(last_active=T0 + 100)
    assert decide_refresh(rotated(T0 + 100), s, POLICY, T0 + 130) == ReplaySuccessor()
    after = math.nextafter(T0 + 130, math.inf)
    assert decide_refresh(rotated(T0 + 100), s, POLICY, after) == Reject("refresh_token_reuse", "refresh_reuse")


def test_the_grace_boundary_is_inclusive_for_fractional_graces() -> None:
    p = PolicySettings("p", refresh_grace=2.7)
    rotated_at = 1_700_000_000.1
    s = session(last_active=rotated_at)
    assert decide_refresh(rotated(rotated_at), s, p, rotated_at + 2.7) == ReplaySuccessor()


def test_zero_grace_replays_only_at_the_same_instant() -> None:
    p = PolicySettings("p", refresh_grace=0.0)
    s = session(last_active=T0 + 100)
    assert decide_refresh(rotated(T0 + 100), s, p, T0 + 100) == ReplaySuccessor()
    assert decide_refresh(rotated(T0 + 100), s, p, T0 + 100.001) == Reject("refresh_token_reuse", "refresh_reuse")


def test_an_unknown_token_is_rejected_without_ending_anything() -> None:
    assert decide_refresh(None, session(), POLICY, T0) == Reject("unknown_refresh_token")
    assert decide_refresh(current(), None, POLICY, T0) == Reject("unknown_refresh_token")


def test_an_ended_session_refuses_every_token_and_ends_nothing_more() -> None:
    s = session(ended=True)
    assert decide_refresh(current(), s, POLICY, T0 + 1) == Reject("session_ended")
    assert decide_refresh(rotated(T0), s, POLICY, T0 + 1) == Reject("session_ended")
    assert decide_refresh(rotated(T0), s, POLICY, T0 + 1000) == Reject("session_ended")


def test_an_idle_session_ends_on_its_next_refresh() -> None:
    s = session(last_active=T0 + 100)
    assert decide_refresh(current(), s, POLICY, T0 + 1899) == Rotate()
    assert decide_refresh(current(), s, POLICY, T0 + 1900) == Reject("idle_expired", "idle_expired")


def test_a_session_past_its_absolute_limit_ends_even_when_active() -> None:
    s = session(last_active=T0 + 43_199)
    assert decide_refresh(current(), s, POLICY, T0 + 43_200) == Reject("absolute_expired", "absolute_expired")


def test_a_replay_within_the_grace_of_an_expired_session_is_refused() -> None:
    s = session(last_active=T0 + 43_190)
    decision = decide_refresh(rotated(T0 + 43_190), s, POLICY, T0 + 43_200)
    assert decision == Reject("absolute_expired", "absolute_expired")


# --- properties -------------------------------------------------------------------------------------------------


@given(policies(), st.floats(0.0, 1.0), st.floats(0.0, 2.0), st.booleans(), st.booleans())
def test_decide_refresh_follows_the_rules(
    p: PolicySettings, a: float, since: float, is_current: bool, ended: bool
) -> None:
    last_active = T0 + a * p.absolute_timeout
    s = session(T0, last_active, ended)
    rotated_at = last_active  # the rotation that set last_active_at
    now = rotated_at + since * p.idle_timeout
    token = current() if is_current else rotated(rotated_at)
    decision = decide_refresh(token, s, p, now)
    expired = expiry_reason(s, p, now)
    if ended:
        assert decision == Reject("session_ended")
    elif expired is not None:
        assert decision == Reject(expired, expired)
    elif is_current:
        assert decision == Rotate()
    elif now - rotated_at <= p.refresh_grace:
        assert decision == ReplaySuccessor()
    else:
        assert decision == Reject("refresh_token_reuse", "refresh_reuse")


@given(policies(), st.floats(0.0, 0.9), st.floats(0.0, 0.999))
def test_a_replay_is_granted_for_the_whole_grace(p: PolicySettings, a: float, within: float) -> None:
    rotated_at = T0 + a * p.absolute_timeout
    s = session(T0, rotated_at)
    now = rotated_at + within * p.refresh_grace
    if expiry_reason(s, p, now) is None:
        assert decide_refresh(rotated(rotated_at), s, p, now) == ReplaySuccessor()


@given(policies(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_only_reuse_and_expiry_end_a_session(p: PolicySettings, a: float, b: float) -> None:
    """A refusal ends the session only for reuse or for its own expiry; never for an unknown or ended token."""
    rotated_at = T0 + a * p.absolute_timeout
    now = rotated_at + b * 2 * p.idle_timeout
    for token, s in ((rotated(rotated_at), session(T0, rotated_at)), (current(), session(T0, rotated_at))):
        decision = decide_refresh(token, s, p, now)
        if isinstance(decision, Reject) and decision.end_session is not None:
            assert decision.end_session in ("refresh_reuse", "idle_expired", "absolute_expired")
    assert decide_refresh(None, session(), p, now).end_session is None  # type: ignore[union-attr]
    assert decide_refresh(rotated(rotated_at), session(ended=True), p, now).end_session is None  # type: ignore[union-attr]


@given(policies(), st.floats(0.0, 0.9), st.floats(0.0, 1.0), st.floats(0.0, 60.0), st.floats(0.0, 1000.0))
def test_a_token_the_store_may_forget_is_reuse_from_then_on(
    p: PolicySettings, a: float, b: float, margin: float, later: float
) -> None:
    """Forgetting changes no answer: a token rotated out before the bound is past its grace, now and later (when
    the store hands the core a forgotten token of a known family, it says the same: reuse)."""
    now = T0 + a * p.absolute_timeout
    bound = forget_rotated_before(p, now, margin)
    rotated_at = bound - b * p.refresh_grace - 1e-3  # anything before the bound
    for at in (now, now + later):
        s = session(T0, at)  # a session kept alive by other tabs: only the grace decides
        if expiry_reason(s, p, at) is None:
            assert decide_refresh(rotated(rotated_at), s, p, at) == Reject("refresh_token_reuse", "refresh_reuse")
            forgotten = RefreshToken("h1", "sid", T0, "rotated", None)
            assert decide_refresh(forgotten, s, p, at) == Reject("refresh_token_reuse", "refresh_reuse")


@given(policies(), st.floats(0.0, 0.9), st.floats(0.0, 1.0))
def test_a_token_within_its_grace_is_never_forgettable(p: PolicySettings, a: float, within: float) -> None:
    now = T0 + a * p.absolute_timeout
    rotated_at = now - within * p.refresh_grace
    assert not rotated_at < forget_rotated_before(p, now, 0.0)
