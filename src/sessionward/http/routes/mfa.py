"""Second factors: TOTP enrolment, confirmation and removal, the second step of a login, and step-up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.errors import InvalidRequest, InvalidToken
from sessionward.http import csrf
from sessionward.http.body import json_body
from sessionward.http.context import client_ip, principal, services, token_endpoint_dpop
from sessionward.http.cookies import authenticated_by_cookie, cookie_session_answer
from sessionward.http.routes.sessions import TOKEN_HEADERS, session_answer
from sessionward.services.mfa import METHODS
from sessionward.services.tokens import IssuedSession


def _answer(request: Request, issued: IssuedSession, status: int, cookie: bool) -> Response:
    if not cookie:
        return session_answer(issued, status)
    svc = services(request)
    policy = svc.sessions.policy(issued.session) or svc.settings.policies["default"]
    return cookie_session_answer(issued, csrf.csrf_token(issued.session), policy, status)


async def enrol_totp(request: Request) -> Response:
    """A new TOTP secret awaiting confirmation. Replacing an enrolled factor is a factor change: it needs a
    second factor checked within the policy's step_up_max_age (RFC 9470 challenge otherwise)."""
    claims = await principal(request)
    svc = services(request)
    if await svc.mfa.has_factor(claims.sub):
        await svc.mfa.demand_fresh(claims, "mfa.totp_replace")
    secret, uri = await svc.mfa.enrol_totp(claims.sub, await svc.auth.username_of(claims.sub))
    return JSONResponse({"secret": secret, "otpauth_uri": uri}, headers=TOKEN_HEADERS)


async def confirm_totp(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    code = body.string("code", max_len=16)
    svc = services(request)
    if await svc.mfa.has_factor(claims.sub):
        await svc.mfa.demand_fresh(claims, "mfa.totp_replace")
    codes = await svc.mfa.confirm_totp(claims.sub, code, claims.sid)
    return JSONResponse({"recovery_codes": codes}, headers=TOKEN_HEADERS)


async def remove_totp(request: Request) -> Response:
    claims = await principal(request)
    svc = services(request)
    await svc.mfa.demand_fresh(claims, "mfa.totp_remove")
    await svc.mfa.remove_totp(claims.sub, claims.sid)
    return Response(status_code=204)


async def login_second_step(request: Request) -> Response:
    body = await json_body(request)
    mfa_token = body.string("mfa_token", max_len=128)
    method = body.choice("method", METHODS, "")
    code = body.string("code", max_len=64)
    transport = body.choice("transport", ("token", "cookie"), "token")
    if transport == "cookie" and request.headers.get("dpop") is not None:
        raise InvalidRequest("DPoP binds tokens the client holds: use the token transport")
    dpop_jkt = await token_endpoint_dpop(request)  # a proof here binds the new session (RFC 9449)
    issued = await services(request).auth.complete_mfa(mfa_token, method, code, client_ip(request), dpop_jkt)
    return _answer(request, issued, 201, transport == "cookie")


async def step_up(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    method = body.choice("method", METHODS, "")
    code = body.string("code", max_len=64)
    svc = services(request)
    session = await svc.store.get_session(claims.sid)
    if session is None or session.state != "active":
        raise InvalidToken("session_ended")
    issued = await svc.mfa.step_up(claims, session, method, code, client_ip(request))
    return _answer(request, issued, 200, authenticated_by_cookie(request))


async def totp(request: Request) -> Response:
    """One route for the factor, so a 405 names every method it serves in `Allow`."""
    handler = {"POST": enrol_totp, "DELETE": remove_totp}[request.method]
    return await handler(request)


routes = [
    Route("/v1/mfa/totp", totp, methods=["POST", "DELETE"]),
    Route("/v1/mfa/totp/confirm", confirm_totp, methods=["POST"]),
    Route("/v1/sessions/mfa", login_second_step, methods=["POST"]),
    Route("/v1/sessions/step-up", step_up, methods=["POST"]),
]
