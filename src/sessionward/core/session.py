"""When a session is alive, and what its tokens may be given: pure rules that take `now`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

from sessionward.core.models import Session

EndReason = Literal[
    "idle_expired",
    "absolute_expired",
    "logout",
    "revoked",
    "password_changed",
    "evicted",
    "refresh_reuse",
    "signed_out_elsewhere",
    "admin_revoked",
]


class SessionTimeouts(Protocol):
    @property
    def idle_timeout(self) -> float: ...

    @property
    def absolute_timeout(self) -> float: ...


def absolute_deadline(session: Session, policy: SessionTimeouts) -> float:
    return session.created_at + policy.absolute_timeout


def idle_deadline(session: Session, policy: SessionTimeouts) -> float:
    return session.last_active_at + policy.idle_timeout


def expiry_reason(session: Session, policy: SessionTimeouts, now: float) -> EndReason | None:
    """Why a session that nobody ended is dead at `now` under its policy, or None when it is alive."""
    if now >= absolute_deadline(session, policy):
        return "absolute_expired"
    if now >= idle_deadline(session, policy):
        return "idle_expired"
    return None


def is_alive(session: Session, policy: SessionTimeouts, now: float) -> bool:
    return session.state == "active" and expiry_reason(session, policy, now) is None


def session_deadline(session: Session, policy: SessionTimeouts) -> float:
    """The first instant at which the session is dead unless it is used again."""
    return min(absolute_deadline(session, policy), idle_deadline(session, policy))


@dataclass(frozen=True, slots=True)
class TokenLifetimes:
    access_expires_at: int
    refresh_expires_in: int


def token_lifetimes(
    session: Session, policy: SessionTimeouts, access_token_ttl: float, now: float, leeway: float = 0.0
) -> TokenLifetimes:
    """Access tokens never outlive the session's deadlines; the refresh token lives until the idle deadline.

    A verifier accepts a token until exp + leeway, so exp stays `leeway` short of the deadlines: no access token
    is accepted after its session timed out, whatever the clock skew allowance.
    """
    deadline = session_deadline(session, policy)
    access = math.floor(min(now + access_token_ttl, deadline - leeway))
    # Differences, not sums with `now`: adding a duration to a large timestamp can round it up past itself.
    refresh = math.floor(max(0.0, min(policy.idle_timeout, absolute_deadline(session, policy) - now)))
    return TokenLifetimes(access, refresh)
