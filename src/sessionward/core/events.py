"""Audit events of session transitions, one shape for every place that ends or changes a session."""

from __future__ import annotations

from sessionward.core.audit import AuditEvent, hash_identifier
from sessionward.core.models import Session

_ENDED_EVENT = {
    "idle_expired": "session.idle_expired",
    "absolute_expired": "session.absolute_expired",
    "logout": "session.logged_out",
    "evicted": "session.evicted",
    "refresh_reuse": "session.ended_on_reuse",
}


def session_fields(session: Session) -> dict[str, str]:
    """How a session appears in the trail: its id only as a digest."""
    return {"sid": hash_identifier(session.sid), "user_id": session.user_id, "client_id": session.client_id}


def session_ended(session: Session, reason: str, by: str) -> AuditEvent:
    """`by`: who ended it ("user", "admin:<id>", "cli", "policy", "client:<id>")."""
    event = _ENDED_EVENT.get(reason, "session.revoked")
    return AuditEvent(event, {**session_fields(session), "reason": reason, "by": by})
