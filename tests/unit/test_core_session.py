"""Session liveness and token lifetimes: exact boundaries, and access tokens that never outlive the absolute limit."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import assume, given
from hypothesis import strategies as st

from sessionward.config import PolicySettings
from sessionward.core.models import Session
from sessionward.core.session import (
    absolute_deadline,
    expiry_reason,
    idle_deadline,
    is_alive,
    session_deadline,
    token_lifetimes,
)

POLICY = PolicySettings("default")  # 5m access, 30m idle, 12h absolute, 30s grace
T0 = 1_700_000_000.0


def session(created: float = T0, last_active: float | None = None, state: str = "active") -> Session:
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
        state="active" if state == "active" else "ended",
    )


@st.composite
def policies(draw: st.DrawFn) -> PolicySettings:
    idle = draw(st.floats(1.0, 100_000.0))
    absolute = draw(st.floats(idle, 1_000_000.0))
    ttl = draw(st.floats(0.001, idle))
    grace = draw(st.floats(0.0, idle * 0.99))
    return PolicySettings("p", access_token_ttl=ttl, idle_timeout=idle, absolute_timeout=absolute, refresh_grace=grace)


times = st.floats(0.0, 2_000_000_000.0)


# --- examples ---------------------------------------------------------------------------------------------------


def test_a_fresh_session_is_alive() -> None:
    assert expiry_reason(session(), POLICY, T0) is None
    assert is_alive(session(), POLICY, T0)


def test_alive_just_before_the_absolute_limit_and_dead_at_it() -> None:
    deadline = T0 + POLICY.absolute_timeout
    s = session(last_active=deadline - 60)
    assert expiry_reason(s, POLICY, math.nextafter(deadline, 0)) is None
    assert expiry_reason(s, POLICY, deadline) == "absolute_expired"


def test_alive_just_before_the_idle_limit_and_dead_at_it() -> None:
    s = session(last_active=T0 + 3600)
    deadline = T0 + 3600 + POLICY.idle_timeout
    assert expiry_reason(s, POLICY, math.nextafter(deadline, 0)) is None
    assert expiry_reason(s, POLICY, deadline) == "idle_expired"


def test_absolute_wins_when_both_limits_have_passed() -> None:
    s = session(last_active=T0)
    assert expiry_reason(s, POLICY, T0 + POLICY.absolute_timeout + 1) == "absolute_expired"


def test_an_ended_session_is_not_alive_even_within_its_limits() -> None:
    s = session(state="ended")
    assert expiry_reason(s, POLICY, T0 + 1) is None  # nobody's timeout: it was ended
    assert not is_alive(s, POLICY, T0 + 1)


def test_deadlines() -> None:
    s = session(last_active=T0 + 100)
    assert absolute_deadline(s, POLICY) == T0 + 43200
    assert idle_deadline(s, POLICY) == T0 + 100 + 1800
    assert session_deadline(s, POLICY) == T0 + 1900
    late = session(last_active=T0 + 43000)
    assert session_deadline(late, POLICY) == T0 + 43200  # idle time never reaches past the absolute limit


def test_access_token_is_cut_at_the_absolute_limit() -> None:
    s = session(last_active=T0 + 43100)
    lifetimes = token_lifetimes(s, POLICY, POLICY.access_token_ttl, T0 + 43100)
    assert lifetimes.access_expires_at == int(T0 + 43200)
    assert lifetimes.refresh_expires_in == 100


def test_token_lifetimes_in_the_middle_of_the_day() -> None:
    lifetimes = token_lifetimes(session(), POLICY, 300.0, T0 + 1000)
    assert lifetimes.access_expires_at == int(T0 + 1300)
    assert lifetimes.refresh_expires_in == 1800


def test_refresh_lifetime_is_zero_past_the_absolute_limit() -> None:
    assert token_lifetimes(session(), POLICY, 300.0, T0 + 50_000).refresh_expires_in == 0


def test_access_expiry_is_rounded_down_even_for_negative_times() -> None:
    s = session(created=-10.5)
    policy = PolicySettings("p", access_token_ttl=5.0, idle_timeout=5.0, absolute_timeout=5.0, refresh_grace=0.0)
    assert token_lifetimes(s, policy, 5.0, -8.0).access_expires_at <= absolute_deadline(s, policy)


# --- properties -------------------------------------------------------------------------------------------------


@given(policies(), times, st.floats(0.0, 1_000_000.0), st.floats(0.0, 2_000_000.0))
def test_expiry_reason_is_exactly_the_two_deadlines(
    p: PolicySettings, created: float, idle_at: float, at: float
) -> None:
    s = session(created, created + idle_at)
    now = created + at
    reason = expiry_reason(s, p, now)
    if now >= s.created_at + p.absolute_timeout:
        assert reason == "absolute_expired"
    elif now >= s.last_active_at + p.idle_timeout:
        assert reason == "idle_expired"
    else:
        assert reason is None
    assert is_alive(s, p, now) == (reason is None)
    assert is_alive(replace(s, state="ended"), p, now) is False


@given(policies(), times, st.floats(0.0, 1_000_000.0))
def test_boundaries_are_exact(p: PolicySettings, created: float, idle_at: float) -> None:
    s = session(created, created + idle_at)
    deadline = session_deadline(s, p)
    assume(deadline > s.last_active_at)
    assert expiry_reason(s, p, math.nextafter(deadline, -math.inf)) is None
    assert expiry_reason(s, p, deadline) is not None


@given(policies(), times, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_access_tokens_never_outlive_the_absolute_limit(p: PolicySettings, created: float, a: float, b: float) -> None:
    now = created + a * p.absolute_timeout
    s = session(created, created + b * (now - created))
    lifetimes = token_lifetimes(s, p, p.access_token_ttl, now)
    assert lifetimes.access_expires_at <= absolute_deadline(s, p)
    assert lifetimes.access_expires_at <= now + p.access_token_ttl
    assert lifetimes.access_expires_at > min(now + p.access_token_ttl, session_deadline(s, p)) - 1
    assert 0 <= lifetimes.refresh_expires_in <= p.idle_timeout
    assert now + lifetimes.refresh_expires_in <= absolute_deadline(s, p)


@given(policies(), times, st.floats(0.0, 1.0))
def test_a_token_issued_at_a_refresh_dies_no_later_than_the_session_left_alone(
    p: PolicySettings, created: float, a: float
) -> None:
    """A refresh at `now` sets last_active_at = now; the access token it issues expires by the idle deadline too."""
    now = created + a * p.absolute_timeout
    s = session(created, now)
    exp = token_lifetimes(s, p, p.access_token_ttl, now).access_expires_at
    assert exp <= session_deadline(s, p)


def test_access_expiry_leaves_room_for_the_verifier_leeway() -> None:
    """A token accepted until exp + leeway is still never accepted past the session's deadlines."""
    s = session()
    near_end = absolute_deadline(s, POLICY) - 100
    lifetimes = token_lifetimes(s, POLICY, 300.0, near_end, leeway=5.0)
    assert lifetimes.access_expires_at + 5.0 <= absolute_deadline(s, POLICY)
    fresh = token_lifetimes(s, POLICY, POLICY.idle_timeout, s.last_active_at, leeway=5.0)
    assert fresh.access_expires_at + 5.0 <= s.last_active_at + POLICY.idle_timeout
