"""The premature-expiry simulation in a small form: no session ends early, none outlives its policy, no false
reuse alarm, every attacker replay refused; and the counters do move when the rules are wrong."""

from __future__ import annotations

from dataclasses import replace

import pytest

import sessionward._sim_clients as sim_clients
from sessionward.config import PolicySettings
from sessionward.core import refresh as core_refresh
from sessionward.core.models import RefreshToken, Session
from sessionward.core.refresh import RefreshDecision, RefreshPolicy, Reject, Rotate
from sessionward.simulate import ATTACKED_EVERY, Faults, SimulationReport, main, run_simulation

DEFAULT = PolicySettings("default")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_small_day_of_sessions_has_no_early_ending_no_outliving_and_no_false_alarm(seed: int) -> None:
    r = run_simulation(300, seed, DEFAULT)
    assert r.sessions == 300
    assert r.ended_early == 0
    assert r.outlived_policy == 0
    assert r.false_alarm_reuse == 0
    assert r.attacker_replays_attempted == 300 // ATTACKED_EVERY
    assert r.attacker_replays_refused == r.attacker_replays_attempted
    assert r.ok
    # The hard cases did happen: lost responses, racing tabs, late clients, users who came back too late.
    assert r.lost_responses_retried > 0
    assert r.replays_of_retries > 0
    assert r.races_within_grace > 0
    assert r.api_calls_with_expired_access > 0
    assert r.legitimate_idle_endings > 0
    assert r.attacker_reuse_detections > 0


def test_a_policy_from_the_command_line_is_honoured() -> None:
    strict = PolicySettings("default", access_token_ttl=120, idle_timeout=600, absolute_timeout=4 * 3600)
    r = run_simulation(150, 3, strict)
    assert r.ok
    assert r.legitimate_absolute_endings > 0  # working days are longer than four hours


def test_the_run_is_reproducible_and_does_not_depend_on_the_number_of_workers() -> None:
    one = run_simulation(60, 7, DEFAULT)
    again = run_simulation(60, 7, DEFAULT)
    two = run_simulation(60, 7, DEFAULT, jobs=2)
    assert replace(one, wall_time=0) == replace(again, wall_time=0) == replace(two, wall_time=0)
    assert replace(one, wall_time=0) != replace(run_simulation(60, 8, DEFAULT), wall_time=0)


# --- the counters are not wired to zero -----------------------------------------------------------------------


def test_no_grace_turns_racing_tabs_and_retries_into_false_reuse_alarms() -> None:
    r = run_simulation(100, 1, PolicySettings("default", refresh_grace=0.0))
    assert r.false_alarm_reuse > 0
    assert r.ended_early > 0
    assert not r.ok


def _patched(monkeypatch: pytest.MonkeyPatch, rule: object) -> None:
    monkeypatch.setattr(sim_clients, "decide_refresh", rule)


def test_a_rule_that_forgets_expiry_is_caught_as_outliving(monkeypatch: pytest.MonkeyPatch) -> None:
    def forgetful(
        token: RefreshToken | None, session: Session | None, policy: RefreshPolicy, now: float
    ) -> RefreshDecision:
        decision = core_refresh.decide_refresh(token, session, policy, now)
        expired = isinstance(decision, Reject) and decision.end_session in ("idle_expired", "absolute_expired")
        return Rotate() if expired and token is not None and token.state == "current" else decision

    _patched(monkeypatch, forgetful)
    r = run_simulation(100, 1, DEFAULT)
    assert r.outlived_policy > 0
    assert not r.ok


def test_a_server_that_ends_live_sessions_is_caught_as_ending_them_early(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = iter(range(10**9))

    def trigger_happy(
        token: RefreshToken | None, session: Session | None, policy: RefreshPolicy, now: float
    ) -> RefreshDecision:
        decision = core_refresh.decide_refresh(token, session, policy, now)
        return Reject("revoked", "revoked") if next(calls) % 5000 == 4999 else decision

    _patched(monkeypatch, trigger_happy)
    r = run_simulation(100, 1, DEFAULT)
    assert r.ended_early > 0
    assert r.false_alarm_reuse == 0  # not a reuse detection: the oracle does not take the server's word for it
    assert not r.ok


def test_a_server_that_grants_replays_is_caught_by_the_attacker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    def lenient(
        token: RefreshToken | None, session: Session | None, policy: RefreshPolicy, now: float
    ) -> RefreshDecision:
        decision = core_refresh.decide_refresh(token, session, policy, now)
        if isinstance(decision, Reject) and decision.end_session == "refresh_reuse":
            return core_refresh.ReplaySuccessor()
        return decision

    _patched(monkeypatch, lenient)
    r = run_simulation(300, 1, DEFAULT)
    assert r.attacker_replays_refused < r.attacker_replays_attempted
    assert not r.ok


# --- the command line -----------------------------------------------------------------------------------------


def test_the_command_prints_the_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sessions", "40", "--jobs", "1", "--idle-timeout", "20m"]) == 0
    out = capsys.readouterr().out
    for line in (
        "sessions ended early",
        "sessions that outlived policy",
        "false-alarm reuse detections",
        "attacker replays refused / attempted",
        "legitimate-idle endings",
        "wall time",
    ):
        assert line in out
    assert "idle 1200s" in out


def test_the_command_exits_1_when_a_target_is_missed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sessions", "40", "--jobs", "1", "--refresh-grace", "0s"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_the_command_refuses_an_invalid_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--sessions", "10", "--idle-timeout", "1m"]) == 2  # shorter than the 5m access tokens
    assert "access_token_ttl" in capsys.readouterr().err


def test_reports_add_up() -> None:
    a = SimulationReport(sessions=2, refreshes=5, wall_time=1.0)
    b = SimulationReport(sessions=3, ended_early=1, wall_time=2.0)
    total = a + b
    assert (total.sessions, total.refreshes, total.ended_early) == (5, 5, 1)
    assert total.ended_early_percent == pytest.approx(20.0)
    assert not total.ok


# --- what the default client model assumes, measured ----------------------------------------------------------


def test_closing_tabs_during_a_refresh_is_a_known_source_of_false_reuse_alarms() -> None:
    """The server rotated, the closed tab never stored the successor; the old token after the grace is reuse."""
    r = run_simulation(300, 1, DEFAULT, faults=Faults(close_mid_refresh=True))
    assert r.false_alarm_reuse > 0
    assert r.outlived_policy == 0


def test_tabs_that_store_every_response_put_older_tokens_back_and_trip_reuse() -> None:
    r = run_simulation(300, 1, DEFAULT, faults=Faults(last_write_wins=True))
    assert r.false_alarm_reuse > 0
    assert r.outlived_policy == 0
