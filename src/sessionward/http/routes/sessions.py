"""Login, refresh, the caller's identity and sessions, logout, password change."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.core.client_auth import is_basic, presented_credentials
from sessionward.errors import InvalidGrant, InvalidRequest, InvalidToken
from sessionward.http import csrf
from sessionward.http.body import JsonBody, json_body
from sessionward.http.context import client_ip, principal, rfc3339, services, token_endpoint_dpop
from sessionward.http.cookies import (
    TOKEN_HEADERS,
    authenticated_by_cookie,
    cookie_session_answer,
    expire_session_cookies,
    refresh_cookie,
)
from sessionward.services.auth import LoginRequest
from sessionward.services.tokens import IssuedSession, refresh_token_hash


def session_answer(issued: IssuedSession, status: int) -> Response:
    s = issued.session
    return JSONResponse(
        {
            "session_id": s.sid,
            "access_token": issued.access_token,
            "token_type": "DPoP" if s.dpop_jkt is not None else "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token,
            "refresh_expires_in": issued.refresh_expires_in,
            "acr": issued.assurance[0],
            "amr": list(issued.assurance[1]),
        },
        status_code=status,
        headers=TOKEN_HEADERS,
    )


async def login(request: Request) -> Response:
    body = await json_body(request)
    username = body.string("username", max_len=64)
    password = body.string("password", max_len=1024)
    client_id = body.string("client_id", required=False, default="web", max_len=64)
    revoke_others = body.boolean("revoke_other_sessions")
    transport = body.choice("transport", ("token", "cookie"), "token")
    if not username or not password:
        raise InvalidRequest("'username' and 'password' must not be empty")
    svc = services(request)
    if transport == "cookie" and request.headers.get("dpop") is not None:
        raise InvalidRequest("DPoP binds tokens the client holds: use the token transport")
    # Checked (and its jti spent) before the password: a bad or replayed proof costs no hash.
    dpop_jkt = await token_endpoint_dpop(request)
    issued = await svc.auth.login(
        LoginRequest(
            username,
            password,
            client_id,
            client_ip(request),
            request.headers.get("user-agent", ""),
            revoke_others,
            dpop_jkt=dpop_jkt,
        )
    )
    if transport == "cookie":
        return _cookie_answer(request, issued, 201)
    return session_answer(issued, 201)


# -- cookie transport (SPEC 5; http/cookies.py, http/csrf.py) -------------------------------------------------------


def _cookie_answer(request: Request, issued: IssuedSession, status: int) -> Response:
    svc = services(request)
    policy = svc.sessions.cookie_policy(issued.session)
    return cookie_session_answer(issued, csrf.csrf_token(issued.session), policy, status)


async def _cookie_refresh(request: Request, token: str) -> Response:
    """Rotates the refresh cookie, under the same grace rule as a refresh token in a body. State-changing: the
    request must come from our origin with the session's CSRF token."""
    svc = services(request)
    found = await svc.store.get_refresh_and_session(refresh_token_hash(token))
    session = found[1] if found else None
    # An ended session has no CSRF token left to match: it is a dead grant (401), not a forged request (403).
    if session is None or session.state != "active":
        raise InvalidGrant("the refresh token is invalid, expired or revoked")
    now = svc.clock.now()
    given = request.headers.get(csrf.CSRF_HEADER)
    await csrf.check(svc.tokens.refusals, request, svc.settings.server.issuer_url, session, given, now)
    return _cookie_answer(request, await svc.sessions.refresh(token), 200)


# -- end of cookie transport -----------------------------------------------------------------------------------------


async def refresh(request: Request) -> Response:
    cookie = refresh_cookie(request)  # cookie transport: no body (or one without refresh_token), the cookie
    if cookie is not None and request.headers.get("content-type") is None:
        async for chunk in request.stream():
            if chunk:
                raise InvalidRequest("a refresh in cookie transport has no body")
        return await _cookie_refresh(request, cookie)
    body = await json_body(request)
    if cookie is not None and body.string("refresh_token", required=False, max_len=8192) == "":
        return await _cookie_refresh(request, cookie)
    token = body.string("refresh_token", max_len=8192)
    client_id = await _refresh_client(request, body)
    issued = await services(request).sessions.refresh(token, await token_endpoint_dpop(request), client_id)
    return session_answer(issued, 200)


async def _refresh_client(request: Request, body: JsonBody) -> str | None:
    """The client a token-transport refresh authenticates (RFC 6749 section 6): HTTP Basic, or client_id and
    client_secret in the body, never both; None when it presents no client credentials (a public client). Another
    Authorization scheme is not client authentication here and is ignored, as before."""
    authorization = request.headers.get("authorization")
    credentials = presented_credentials(
        authorization if is_basic(authorization) else None,
        body.string("client_id", required=False, max_len=1024) or None,
        body.string("client_secret", required=False, max_len=1024) or None,
    )
    if credentials is None:
        return None
    return await services(request).clients.check(credentials, client_ip(request))


async def me(request: Request) -> Response:
    claims = await principal(request)
    svc = services(request)
    username = await svc.auth.username_of(claims.sub)
    return JSONResponse(
        {
            "sub": claims.sub,
            "username": username,
            "session_id": claims.sid,
            "client_id": claims.client_id,
            "acr": claims.acr,
            "amr": list(claims.amr),
            "auth_time": rfc3339(claims.auth_time),
        }
    )


async def list_sessions(request: Request) -> Response:
    claims = await principal(request)
    svc = services(request)
    sessions = await svc.sessions.alive_sessions(claims.sub)
    return JSONResponse(
        {
            "sessions": [
                {
                    "session_id": s.sid,
                    "created_at": rfc3339(s.created_at),
                    "last_active_at": rfc3339(s.last_active_at),
                    "expires_at": rfc3339(svc.sessions.expires_at(s)),
                    "ip": s.ip,
                    "user_agent": s.user_agent,
                    "current": s.sid == claims.sid,
                    "acr": s.acr,
                    "amr": list(s.amr),
                }
                for s in sessions
            ]
        }
    )


async def logout(request: Request) -> Response:
    claims = await principal(request)
    await services(request).sessions.end_own(claims.sub, claims.sid, claims.sid, "logout")
    response = Response(status_code=204)
    expire_session_cookies(response, clear_site_data=True)  # SPEC 5: whatever the transport, the browser forgets
    return response


async def end_one(request: Request) -> Response:
    claims = await principal(request)
    sid = request.path_params["session_id"]
    await services(request).sessions.end_own(claims.sub, claims.sid, sid, "revoked")
    response = Response(status_code=204)
    if sid == claims.sid and authenticated_by_cookie(request):
        expire_session_cookies(response, clear_site_data=True)
    return response


async def end_many(request: Request) -> Response:
    claims = await principal(request)
    scope = request.query_params.get("scope")
    if scope == "others":
        await services(request).sessions.end_scope(claims.sub, claims.sid, "others")
    elif scope == "all":
        await services(request).sessions.end_scope(claims.sub, claims.sid, "all")
    else:
        raise InvalidRequest("'scope' must be 'others' or 'all'")
    response = Response(status_code=204)
    if scope == "all" and authenticated_by_cookie(request):
        expire_session_cookies(response, clear_site_data=True)
    return response


async def change_password(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    current = body.string("current_password", max_len=1024)
    new = body.string("new_password", max_len=1024)
    svc = services(request)
    # A sensitive operation: a fresh second factor when the policy requires MFA or the user has a factor.
    await svc.mfa.demand_fresh(claims, "password.change")
    session = await svc.store.get_session(claims.sid)
    if session is None or session.state != "active":
        raise InvalidToken("session_ended")
    issued = await svc.sessions.change_password(
        claims.sub, session, current, new, client_ip(request), request.headers.get("user-agent", "")
    )
    if authenticated_by_cookie(request):
        return _cookie_answer(request, issued, 200)
    return session_answer(issued, 200)


async def sessions_collection(request: Request) -> Response:
    """One route for the collection, so a 405 names every method it serves in `Allow`."""
    handler = {"POST": login, "GET": list_sessions, "HEAD": list_sessions, "DELETE": end_many}[request.method]
    return await handler(request)


routes = [
    Route("/v1/me", me, methods=["GET"]),  # the hot path: first
    Route("/v1/sessions", sessions_collection, methods=["GET", "POST", "DELETE"]),
    Route("/v1/sessions/refresh", refresh, methods=["POST"]),
    Route("/v1/sessions/current", logout, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}", end_one, methods=["DELETE"]),
    Route("/v1/password", change_password, methods=["POST"]),
]
