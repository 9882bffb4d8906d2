"""Who is behind a page request: the cookie session, refreshed transparently, or why there is none.

A page request with a valid access cookie is that session. One whose access cookie is missing or expired but
whose refresh cookie still refreshes is refreshed here, server-side, through the same `SessionService.refresh`
as the API (same rotation, same grace rule), and the response carries the new cookies: an active person is
never asked to sign in again before the absolute timeout. When neither works, the refresh cookie's session
tells why it ended, so the sign-in page can say so.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.models import Session
from sessionward.crypto.jwt import AccessClaims
from sessionward.errors import InvalidClient, InvalidGrant, InvalidToken
from sessionward.http import csrf
from sessionward.http.context import client_ip, services
from sessionward.http.cookies import (
    access_cookie,
    expire_session_cookies,
    has_session_cookie,
    refresh_cookie,
    set_session_cookies,
)
from sessionward.http.pages.layout import Viewer
from sessionward.http.pages.messages import END_REASON_CODES
from sessionward.services.tokens import IssuedSession, refresh_token_hash

SIGNIN = "/account/signin"
HOME = "/account/sessions"


@dataclass(frozen=True, slots=True)
class PageSession:
    claims: AccessClaims
    session: Session
    issued: IssuedSession | None  # a transparent refresh happened: the response must carry the new cookies

    @property
    def csrf_token(self) -> str:
        return csrf.csrf_token(self.session)

    def finish(self, request: Request, response: Response) -> Response:
        if self.issued is not None:
            svc = services(request)
            policy = svc.sessions.cookie_policy(self.issued.session)
            set_session_cookies(response, self.issued, policy)
        return response


@dataclass(frozen=True, slots=True)
class NoSession:
    reason: str | None  # a code of messages.ended_message, or None when there never was a session
    had_cookies: bool

    def to_signin(self) -> Response:
        target = f"{SIGNIN}?ended={self.reason}" if self.reason else SIGNIN
        response = RedirectResponse(target, status_code=303)
        if self.had_cookies:
            expire_session_cookies(response)
        return response


async def _authenticate(request: Request, token: str) -> AccessClaims | None:
    svc = services(request)
    try:
        return await svc.tokens.authenticate(f"Bearer {token}", svc.clock.now(), client_ip(request))
    except InvalidToken:
        return None


async def _why_ended(request: Request, refresh_token: str) -> str:
    found = await services(request).store.get_refresh_and_session(refresh_token_hash(refresh_token))
    if found is not None and found[1].state == "ended":
        return END_REASON_CODES.get(found[1].end_reason, "expired")
    return "expired"


async def resolve(request: Request) -> PageSession | NoSession:
    svc = services(request)
    access = access_cookie(request)
    if access is not None and (claims := await _authenticate(request, access)) is not None:
        session = await svc.store.get_session(claims.sid)
        if session is not None and session.state == "active":
            return PageSession(claims, session, None)
    refresh = refresh_cookie(request)
    if refresh is not None:
        try:
            issued = await svc.sessions.refresh(refresh)
        except (InvalidGrant, InvalidClient):  # InvalidClient: a confidential client's session refreshes only
            # with that client's authentication, which a browser's cookie never carries
            return NoSession(await _why_ended(request, refresh), True)
        claims = await _authenticate(request, issued.access_token)
        if claims is not None:
            return PageSession(claims, issued.session, issued)
        return NoSession("expired", True)
    had = has_session_cookie(request)
    return NoSession("expired" if had else None, had)


async def viewer_of(request: Request, who: PageSession) -> Viewer:
    """The header's view of the signed-in person: their name and the token their forms carry."""
    return Viewer(await services(request).auth.username_of(who.claims.sub), who.csrf_token)
