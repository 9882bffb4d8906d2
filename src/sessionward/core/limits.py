"""Admission of a new session under the policy's concurrency limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sessionward.core.models import Session
from sessionward.core.session import EndReason, SessionTimeouts, expiry_reason


class LimitPolicy(SessionTimeouts, Protocol):
    @property
    def max_sessions_per_user(self) -> int: ...

    @property
    def max_sessions_per_ip(self) -> int: ...

    @property
    def on_session_limit(self) -> Literal["reject", "evict_oldest"]: ...


@dataclass(frozen=True, slots=True)
class Admission:
    """Sessions to end before the new one starts (sid, reason), or the limit that refuses it."""

    end: tuple[tuple[str, EndReason], ...] = ()
    refused_by: Literal["max_sessions_per_user", "max_sessions_per_ip"] | None = None


def admit(
    user_sessions: Sequence[Session],
    ip_sessions: Sequence[Session],
    user_id: str,
    policy: LimitPolicy,
    now: float,
    revoke_others: bool,
    policy_of: dict[str, LimitPolicy] | None = None,
) -> Admission:
    """`user_sessions`: the user's active sessions; `ip_sessions`: every active session from the source IP.

    Sessions that timed out are ended on the way (they do not count). With evict_oldest, only the user's own
    sessions are ever evicted: one person's login never ends another person's session, so when other people's
    sessions fill the address's quota the login is refused.
    """
    end: dict[str, EndReason] = {}

    def alive(s: Session) -> bool:
        reason = expiry_reason(s, (policy_of or {}).get(s.policy, policy), now)
        if reason is not None:
            end[s.sid] = reason
        return reason is None and s.state == "active"

    own = sorted((s for s in user_sessions if alive(s)), key=lambda s: (s.created_at, s.sid))
    at_ip = [s for s in ip_sessions if alive(s)]
    if revoke_others:
        end.update({s.sid: "signed_out_elsewhere" for s in own})
        own = []

    excess = len(own) - policy.max_sessions_per_user + 1
    if excess > 0:
        if policy.on_session_limit == "reject":
            return Admission(tuple(end.items()), "max_sessions_per_user")
        end.update({s.sid: "evicted" for s in own[:excess]})

    remaining_at_ip = sorted((s for s in at_ip if s.sid not in end), key=lambda s: (s.created_at, s.sid))
    excess = len(remaining_at_ip) - policy.max_sessions_per_ip + 1
    if excess > 0:
        mine = [s for s in remaining_at_ip if s.user_id == user_id]
        if policy.on_session_limit == "reject" or len(mine) < excess:
            return Admission(tuple(end.items()), "max_sessions_per_ip")
        end.update({s.sid: "evicted" for s in mine[:excess]})
    return Admission(tuple(end.items()))
