"""What `sessionward.simulate` counts, and the table it prints."""

from __future__ import annotations

from dataclasses import dataclass, fields

from sessionward.config import PolicySettings


@dataclass(frozen=True, slots=True)
class SimulationReport:
    sessions: int = 0
    refreshes: int = 0
    rotations: int = 0
    lost_responses_retried: int = 0
    replays_of_retries: int = 0
    races_within_grace: int = 0
    api_calls: int = 0
    api_calls_with_expired_access: int = 0
    ended_early: int = 0
    outlived_policy: int = 0
    false_alarm_reuse: int = 0
    attacker_replays_attempted: int = 0
    attacker_replays_refused: int = 0
    attacker_reuse_detections: int = 0
    legitimate_idle_endings: int = 0
    legitimate_absolute_endings: int = 0
    logouts: int = 0
    cas_conflicts: int = 0
    wall_time: float = 0.0

    @property
    def ended_early_percent(self) -> float:
        return 100.0 * self.ended_early / self.sessions if self.sessions else 0.0

    @property
    def ok(self) -> bool:
        return (
            self.ended_early == 0
            and self.outlived_policy == 0
            and self.false_alarm_reuse == 0
            and self.attacker_replays_refused == self.attacker_replays_attempted
        )

    def __add__(self, other: SimulationReport) -> SimulationReport:
        return SimulationReport(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def format_report(r: SimulationReport, policy: PolicySettings, store: str = "model") -> str:
    rows = [
        ("store", store),
        (
            "policy",
            f"ttl {policy.access_token_ttl:g}s, idle {policy.idle_timeout:g}s, "
            f"absolute {policy.absolute_timeout:g}s, grace {policy.refresh_grace:g}s",
        ),
        ("sessions", f"{r.sessions}"),
        ("refreshes (rotations)", f"{r.refreshes} ({r.rotations})"),
        ("lost responses retried", f"{r.lost_responses_retried} ({r.replays_of_retries} answered by replay)"),
        ("races within grace", f"{r.races_within_grace}"),
        ("api calls (with an expired access token)", f"{r.api_calls} ({r.api_calls_with_expired_access})"),
        ("sessions ended early", f"{r.ended_early} ({r.ended_early_percent:.3f}%)"),
        ("sessions that outlived policy", f"{r.outlived_policy}"),
        ("false-alarm reuse detections", f"{r.false_alarm_reuse}"),
        ("attacker replays refused / attempted", f"{r.attacker_replays_refused} / {r.attacker_replays_attempted}"),
        ("attacks detected as reuse", f"{r.attacker_reuse_detections}"),
        ("legitimate-idle endings", f"{r.legitimate_idle_endings}"),
        ("legitimate-absolute endings", f"{r.legitimate_absolute_endings}"),
        ("logouts", f"{r.logouts}"),
        ("wall time", f"{r.wall_time:.1f}s"),
        ("verdict", "PASS" if r.ok else "FAIL"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
