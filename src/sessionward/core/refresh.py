"""What presenting a refresh token at `now` means: rotate, replay the successor, reuse, or reject.

The grace rule lets a client that lost a response, or two tabs racing, present the token that was just rotated
out and get the very same successor; only a presentation after the grace is reuse, and reuse ends that one
session, never the user's or the client's other sessions.

The grace belongs to each rotated token, however many rotations followed it: a retried lost response can arrive
after another tab has refreshed twice, and a slow request can be overtaken by two refreshes. So a rotated token
(with the successor it was answered with) is kept until its own grace has passed; only then may the store forget
it (`forget_rotated_before`), and a forgotten token of a known family is reuse, exactly as it would be if kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sessionward.core.models import RefreshToken, Session
from sessionward.core.session import EndReason, SessionTimeouts, expiry_reason


class RefreshPolicy(SessionTimeouts, Protocol):
    @property
    def refresh_grace(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Rotate:
    """The token is current: issue a successor and mark this one rotated."""


@dataclass(frozen=True, slots=True)
class ReplaySuccessor:
    """The token was rotated within the grace: answer with the successor already issued."""


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    end_session: EndReason | None = None


RefreshDecision = Rotate | ReplaySuccessor | Reject


def decide_refresh(
    token: RefreshToken | None, session: Session | None, policy: RefreshPolicy, now: float
) -> RefreshDecision:
    if token is None or session is None:
        return Reject("unknown_refresh_token")
    if session.state != "active":
        return Reject("session_ended")
    expired = expiry_reason(session, policy, now)
    if expired is not None:
        return Reject(expired, end_session=expired)
    if token.state == "current":
        return Rotate()
    rotated_at = token.rotated_at if token.rotated_at is not None else float("-inf")
    # A sum, not a difference: the same arithmetic as the timeouts, so the inclusive boundary is exact.
    if now <= rotated_at + policy.refresh_grace:
        return ReplaySuccessor()
    return Reject("refresh_token_reuse", end_session="refresh_reuse")


def forget_rotated_before(policy: RefreshPolicy, now: float, clock_margin: float) -> float:
    """Tokens rotated out before this instant are past their grace for good: the store may forget them.

    `clock_margin` keeps them a little longer than the rule needs (nodes' clocks differ by up to that much), which
    changes no answer: a kept token past its grace is reuse by `decide_refresh`, a forgotten one by its family."""
    return now - policy.refresh_grace - clock_margin
