"""The assurance rules: what tokens claim for a session at `now`, and the RFC 9470 check of an operation."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.assurance import (
    AMR_MFA,
    AMR_PASSWORD,
    LOA_MFA,
    LOA_PASSWORD,
    Requirement,
    acr_satisfies,
    assurance_shortfall,
    challenge,
    effective_assurance,
    required_for_sensitive,
)
from sessionward.core.models import Session

T0 = 1_800_000_000.0
times = st.floats(min_value=0, max_value=10**6, allow_nan=False)
ages = st.floats(min_value=1, max_value=10**5, allow_nan=False)
acrs = st.sampled_from([LOA_PASSWORD, LOA_MFA, "urn:other", ""])


def session(acr: str = LOA_PASSWORD, mfa_at: float | None = None) -> Session:
    amr = AMR_MFA if acr == LOA_MFA else AMR_PASSWORD
    return Session("sid", "u", "web", "default", T0, T0, T0, acr, amr, "127.0.0.1", "ua", mfa_at=mfa_at)


@given(acr=acrs, auth_age=times, max_age=ages)
def test_shortfall_is_none_exactly_when_acr_and_age_suffice(acr: str, auth_age: float, max_age: float) -> None:
    now = T0 + auth_age
    short = assurance_shortfall(acr, T0, LOA_MFA, max_age, now)
    enough = acr == LOA_MFA and now - T0 <= max_age
    assert (short is None) == enough
    if short is not None:
        assert short == (LOA_MFA, int(max_age))  # the challenge states both


@given(acr=acrs, auth_age=times)
def test_no_requirement_is_always_met(acr: str, auth_age: float) -> None:
    assert assurance_shortfall(acr, T0, None, None, T0 + auth_age) is None


def test_unknown_acr_meets_no_requirement_and_loa1_meets_loa1() -> None:
    assert assurance_shortfall("urn:other", T0, LOA_PASSWORD, None, T0) == (LOA_PASSWORD, None)
    assert assurance_shortfall(LOA_PASSWORD, T0, LOA_PASSWORD, None, T0) is None
    assert assurance_shortfall(LOA_MFA, T0, LOA_PASSWORD, None, T0) is None


@given(step_up=ages, since=times)
def test_a_step_up_raises_for_its_window_then_falls_back(step_up: float, since: float) -> None:
    mfa_at = T0 + 100
    now = mfa_at + since
    claimed = effective_assurance(session(LOA_PASSWORD, mfa_at), step_up, now)
    assert claimed.auth_time == mfa_at  # the newest authentication
    if since < step_up:
        assert (claimed.acr, claimed.amr) == (LOA_MFA, AMR_MFA)
        assert assurance_shortfall(claimed.acr, claimed.auth_time, LOA_MFA, step_up, now) is None
    else:
        assert (claimed.acr, claimed.amr) == (LOA_PASSWORD, AMR_PASSWORD)
        # Fallen back: both the acr and the max_age check fail.
        assert assurance_shortfall(claimed.acr, claimed.auth_time, LOA_MFA, None, now) is not None
        assert assurance_shortfall(LOA_MFA, claimed.auth_time, None, step_up, now + 1e-3) is not None


@given(step_up=ages, since=times)
def test_an_mfa_login_keeps_its_acr_and_ages_by_auth_time(step_up: float, since: float) -> None:
    s = session(LOA_MFA, T0)
    claimed = effective_assurance(s, step_up, T0 + since)
    assert (claimed.acr, claimed.amr, claimed.auth_time) == (LOA_MFA, AMR_MFA, T0)
    later = effective_assurance(dataclasses.replace(s, mfa_at=T0 + since), step_up, T0 + since)
    assert later.auth_time == T0 + since


def test_a_password_session_that_never_stepped_up_claims_what_it_verified() -> None:
    claimed = effective_assurance(session(), 300, T0 + 5)
    assert (claimed.acr, claimed.amr, claimed.auth_time) == (LOA_PASSWORD, AMR_PASSWORD, T0)


@given(require_mfa=st.booleans(), has_factor=st.booleans(), step_up=ages)
def test_sensitive_operations_need_a_fresh_factor_under_mfa_policies_or_with_a_factor(
    require_mfa: bool, has_factor: bool, step_up: float
) -> None:
    need = required_for_sensitive(require_mfa, has_factor, step_up)
    assert need == (Requirement(LOA_MFA, step_up) if require_mfa or has_factor else None)


def test_the_challenge_is_rfc_9470_shaped() -> None:
    description, header = challenge(LOA_MFA, 300)
    assert header == (
        'Bearer error="insufficient_user_authentication", '
        f'error_description="{description}", acr_values="{LOA_MFA}", max_age="300"'
    )
    assert challenge(None, 60)[1].endswith('max_age="60"')
    assert 'acr_values="a\\"b"' in challenge('a"b', None)[1]


def test_an_unknown_required_level_is_never_met_by_a_known_one() -> None:
    # Fail closed: a requirement we cannot rank is met only by that exact value, never by our own levels.
    for have in (LOA_PASSWORD, LOA_MFA):
        assert assurance_shortfall(have, T0, "urn:example:mfa", None, T0) == ("urn:example:mfa", None)
    assert assurance_shortfall("urn:example:mfa", T0, "urn:example:mfa", None, T0) is None


def test_our_levels_are_met_by_rank() -> None:
    assert acr_satisfies(LOA_MFA, LOA_PASSWORD) and acr_satisfies(LOA_MFA, LOA_MFA)
    assert not acr_satisfies(LOA_PASSWORD, LOA_MFA)
    assert not acr_satisfies("urn:other", LOA_PASSWORD) and not acr_satisfies(LOA_PASSWORD, "urn:other")
