"""Cross-site request forgery: what a state-changing request authenticated by cookie must carry.

Two independent proofs, both required:

- The request comes from our own origin: a same-origin `Origin` header, or, where a browser sent none,
  `Sec-Fetch-Site: same-origin`. This alone stops a page on another origin, including one on the same site
  (another port of the same host), where `SameSite=Strict` cookies are still sent.
- The session's CSRF token, in `X-CSRF-Token` (JSON API) or the `csrf_token` field (the pages' forms). It is
  an HMAC of the session id keyed with the session's refresh-token family: a 96-bit random value stored with
  the session and only ever sent to the browser inside the HttpOnly refresh cookie. It lives as long as the
  session, survives refreshes, and dies with the session (a password change makes a new one).

Every refusal is audited (`csrf.rejected`, with the reason and the address), past a few a minute per reason,
address and session as a count (services/refusals.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

from starlette.requests import Request

from sessionward.core.audit import AuditEvent
from sessionward.core.events import session_fields
from sessionward.core.models import Session
from sessionward.errors import Forbidden
from sessionward.services.refusals import RefusalLog

CSRF_HEADER: Final = "x-csrf-token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_LABEL: Final = b"sessionward csrf v1\x00"


class CsrfRejected(Forbidden):
    """403: the request may come from another site. `reason` goes to the audit trail only."""

    def __init__(self, reason: str) -> None:
        super().__init__("this request was refused: it may not come from this site")
        self.reason = reason


def csrf_token(session: Session) -> str:
    if not session.family:  # never derive a token from an empty key: no request of this session passes
        return ""
    mac = hmac.new(session.family.encode(), _LABEL + session.sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _origin_of_host(host: str) -> str:
    host = host.strip().lower()
    return "https://" + host.removesuffix(":443")


def _normalise(origin: str) -> str:
    return origin.strip().lower().removesuffix(":443")


def origin_refusal(request: Request, issuer: str) -> str | None:
    """None when the request comes from our own origin; otherwise why not (for the audit trail).

    Our pages send `Referrer-Policy: no-referrer`, under which a browser's form post says `Origin: null`; there
    `Sec-Fetch-Site` (a header no page script can set) must say `same-origin`. A real `Origin` must be ours, and
    a `Sec-Fetch-Site` other than `same-origin` is refused whatever the `Origin` says."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return "cross_origin_fetch"
    if origin is not None and origin.strip().lower() != "null":
        ours = {_normalise(issuer)}
        host = request.headers.get("host")
        if host:
            ours.add(_origin_of_host(host))
        return None if _normalise(origin) in ours else "cross_origin"
    if fetch_site is None:
        return "no_origin" if origin is None else "opaque_origin"
    return None


def token_refusal(given: str | None, session: Session | None) -> str | None:
    if not given:
        return "missing_token"
    expected = csrf_token(session) if session is not None and session.state == "active" else ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return "wrong_token"
    return None


async def reject(audit: RefusalLog, request: Request, reason: str, session: Session | None, now: float) -> CsrfRejected:
    """Records the refusal and returns the error to raise."""
    fields: dict[str, object] = {"reason": reason, "ip": request.client.host if request.client else "unknown"}
    fields["path"] = request.url.path[:200]
    if session is not None:
        fields.update(session_fields(session))
    await audit.record(AuditEvent("csrf.rejected", fields), now)
    return CsrfRejected(reason)


async def check(
    audit: RefusalLog, request: Request, issuer: str, session: Session | None, given: str | None, now: float
) -> None:
    """Both proofs, or CsrfRejected (audited)."""
    reason = origin_refusal(request, issuer) or token_refusal(given, session)
    if reason is not None:
        raise await reject(audit, request, reason, session, now)
