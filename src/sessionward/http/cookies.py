"""The cookie transport (SPEC section 5): which cookies carry a session, and how they are set and expired.

Two cookies, both `__Host-` (so no sibling host can plant or overwrite them), `HttpOnly` (no page script reads a
token), `Secure`, `SameSite=Strict`, `Path=/`, no `Domain`:

- `__Host-sw-access`: the access JWT; `Max-Age` its lifetime.
- `__Host-sw-refresh`: the refresh token; `Max-Age` the policy's absolute timeout. The server alone decides
  whether it still refreshes; kept that long in the jar, a dead token still lets the server say *why* the
  session ended ("signed out after inactivity") instead of a bare sign-in form.

Set-Cookie lines are written here by hand so every attribute is exactly what the contract names.
"""

from __future__ import annotations

import math
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sessionward.config import PolicySettings
from sessionward.services.tokens import IssuedSession

ACCESS_COOKIE: Final = "__Host-sw-access"
REFRESH_COOKIE: Final = "__Host-sw-refresh"
SESSION_COOKIES: Final = (ACCESS_COOKIE, REFRESH_COOKIE)
_ATTRIBUTES: Final = "Path=/; Secure; HttpOnly; SameSite=Strict"
_EPOCH: Final = "Thu, 01 Jan 1970 00:00:00 GMT"
CLEAR_SITE_DATA: Final = '"cache", "cookies", "storage"'
TOKEN_HEADERS: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Max-Age={max(0, max_age)}; {_ATTRIBUTES}"


def set_session_cookies(response: Response, issued: IssuedSession, policy: PolicySettings) -> None:
    response.headers.append("set-cookie", _cookie(ACCESS_COOKIE, issued.access_token, issued.expires_in))
    refresh_age = math.floor(policy.absolute_timeout)
    response.headers.append("set-cookie", _cookie(REFRESH_COOKIE, issued.refresh_token, refresh_age))
    response.headers["cache-control"] = "no-store"


def expire_session_cookies(response: Response, *, clear_site_data: bool = False) -> None:
    for name in SESSION_COOKIES:
        response.headers.append("set-cookie", f"{name}=; Max-Age=0; Expires={_EPOCH}; {_ATTRIBUTES}")
    if clear_site_data:
        response.headers["clear-site-data"] = CLEAR_SITE_DATA
    response.headers["cache-control"] = "no-store"


def access_cookie(request: Request) -> str | None:
    return request.cookies.get(ACCESS_COOKIE) or None


def refresh_cookie(request: Request) -> str | None:
    return request.cookies.get(REFRESH_COOKIE) or None


def has_session_cookie(request: Request) -> bool:
    return access_cookie(request) is not None or refresh_cookie(request) is not None


def authenticated_by_cookie(request: Request) -> bool:
    """A request authenticates by cookie when it has no Authorization header and carries the access cookie."""
    return request.headers.get("authorization") is None and access_cookie(request) is not None


def cookie_session_answer(issued: IssuedSession, csrf_token: str, policy: PolicySettings, status: int) -> Response:
    """A session answer in cookie transport: the tokens go into cookies, never into the body."""
    s = issued.session
    response = JSONResponse(
        {
            "session_id": s.sid,
            "csrf_token": csrf_token,
            "expires_in": issued.expires_in,
            "acr": issued.assurance[0],
            "amr": list(issued.assurance[1]),
        },
        status_code=status,
        headers=TOKEN_HEADERS,
    )
    set_session_cookies(response, issued, policy)
    return response
