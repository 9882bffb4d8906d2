"""Second factors: TOTP and WebAuthn enrolment, confirmation and removal, the factors overview, the second step
of a login, and step-up (each with the WebAuthn options its assertion answers)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.errors import InvalidRequest, InvalidToken
from sessionward.http import csrf
from sessionward.http.body import JsonBody, json_body
from sessionward.http.context import client_ip, principal, rfc3339, services, token_endpoint_dpop
from sessionward.http.cookies import TOKEN_HEADERS, authenticated_by_cookie, cookie_session_answer
from sessionward.http.routes.sessions import session_answer
from sessionward.services.mfa import METHODS
from sessionward.services.sessions import MAX_PASSWORD_LENGTH
from sessionward.services.tokens import IssuedSession


def _answer(request: Request, issued: IssuedSession, status: int, cookie: bool) -> Response:
    if not cookie:
        return session_answer(issued, status)
    svc = services(request)
    policy = svc.sessions.cookie_policy(issued.session)
    return cookie_session_answer(issued, csrf.csrf_token(issued.session), policy, status)


async def current_password(request: Request) -> str | None:
    """The optional `current_password` of a body that may be absent (SPEC's `POST /v1/mfa/totp` has none)."""
    if request.headers.get("content-type") is None or request.headers.get("content-length") == "0":
        return None
    given = (await json_body(request)).string("current_password", required=False, max_len=MAX_PASSWORD_LENGTH)
    return given or None


async def enrol_totp(request: Request) -> Response:
    """A new TOTP secret awaiting confirmation. Replacing an enrolled factor is a factor change: it needs a
    second factor checked within the policy's step_up_max_age (RFC 9470 challenge otherwise). A first factor
    needs a password check within it: the session's own sign-in, or `current_password` in the body."""
    claims = await principal(request)
    given = await current_password(request)
    await services(request).mfa.demand_to_add(claims, "mfa.totp_replace", given, client_ip(request))
    svc = services(request)
    secret, uri = await svc.mfa.enrol_totp(claims.sub, await svc.auth.username_of(claims.sub))
    return JSONResponse({"secret": secret, "otpauth_uri": uri}, headers=TOKEN_HEADERS)


async def confirm_totp(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    code = body.string("code", max_len=16)
    await services(request).mfa.demand_fresh(claims, "mfa.totp_replace", adding=True)
    codes = await services(request).mfa.confirm_totp(claims.sub, code, claims.sid)
    return JSONResponse({"recovery_codes": codes}, headers=TOKEN_HEADERS)


async def remove_totp(request: Request) -> Response:
    claims = await principal(request)
    svc = services(request)
    await svc.mfa.demand_fresh(claims, "mfa.totp_remove")
    await svc.mfa.remove_totp(claims.sub, claims.sid)
    return Response(status_code=204)


def _factor_proof(body: JsonBody) -> tuple[str, str, dict[str, Any] | None]:
    """(method, code, WebAuthn assertion): a code for totp and recovery_code, a `credential` for webauthn."""
    method = body.choice("method", METHODS, "")
    if method == "webauthn":
        return method, "", body.mapping("credential")
    return method, body.string("code", max_len=64), None


async def factors(request: Request) -> Response:
    """The caller's second factors: whether TOTP is on, the security keys, and the recovery codes left."""
    claims = await principal(request)
    svc = services(request)
    totp = await svc.store.get_totp(claims.sub)
    keys = await svc.store.list_webauthn_credentials(claims.sub)
    body = {
        "totp": totp is not None and totp.secret is not None,
        "webauthn": [
            {
                "credential_id": k.credential_id,
                "name": k.name,
                "created_at": rfc3339(k.created_at),
                "last_used_at": rfc3339(k.last_used_at) if k.last_used_at is not None else None,
            }
            for k in keys
        ],
        "recovery_codes_left": await svc.store.recovery_codes_left(claims.sub),
        "methods": list(await svc.mfa.methods_of(claims.sub)),
    }
    return JSONResponse(body, headers=TOKEN_HEADERS)


async def new_recovery_codes(request: Request) -> Response:
    """Ten new recovery codes in place of the old ones: a factor change, so it needs a fresh second factor and
    ends the user's other sessions."""
    claims = await principal(request)
    svc = services(request)
    await svc.mfa.demand_fresh(claims, "mfa.recovery_codes_replace")
    codes = await svc.mfa.new_recovery_codes(claims.sub, claims.sid)
    return JSONResponse({"recovery_codes": codes}, headers=TOKEN_HEADERS)


async def webauthn_register_options(request: Request) -> Response:
    """Registration options, under the rule of enrol_totp (`current_password` in the body when needed)."""
    claims = await principal(request)
    given = await current_password(request)
    await services(request).mfa.demand_to_add(claims, "mfa.webauthn_add", given, client_ip(request))
    svc = services(request)
    options = await svc.mfa.webauthn_options(claims.sub, await svc.auth.username_of(claims.sub))
    return JSONResponse({"publicKey": options}, headers=TOKEN_HEADERS)


async def webauthn_register(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    answer = body.mapping("credential")
    name = body.string("name", required=False, max_len=64)
    await services(request).mfa.demand_fresh(claims, "mfa.webauthn_add", adding=True)
    credential, codes = await services(request).mfa.confirm_webauthn(claims.sub, answer, name, claims.sid)
    answered: dict[str, object] = {"credential_id": credential.credential_id, "name": credential.name}
    if codes:
        answered["recovery_codes"] = codes
    return JSONResponse(answered, headers=TOKEN_HEADERS)


async def webauthn_remove(request: Request) -> Response:
    claims = await principal(request)
    svc = services(request)
    await svc.mfa.demand_fresh(claims, "mfa.webauthn_remove")
    await svc.mfa.remove_webauthn(claims.sub, request.path_params["credential_id"], claims.sid)
    return Response(status_code=204)


async def webauthn_login_options(request: Request) -> Response:
    body = await json_body(request)
    mfa_token = body.string("mfa_token", max_len=128)
    options = await services(request).auth.webauthn_login_options(mfa_token, client_ip(request))
    return JSONResponse({"publicKey": options}, headers=TOKEN_HEADERS)


async def webauthn_step_up_options(request: Request) -> Response:
    claims = await principal(request)
    options = await services(request).mfa.step_up_options(claims)
    return JSONResponse({"publicKey": options}, headers=TOKEN_HEADERS)


async def login_second_step(request: Request) -> Response:
    body = await json_body(request)
    mfa_token = body.string("mfa_token", max_len=128)
    method, code, assertion = _factor_proof(body)
    transport = body.choice("transport", ("token", "cookie"), "token")
    if transport == "cookie" and request.headers.get("dpop") is not None:
        raise InvalidRequest("DPoP binds tokens the client holds: use the token transport")
    dpop_jkt = await token_endpoint_dpop(request)  # a proof here binds the new session (RFC 9449)
    auth = services(request).auth
    issued = await auth.complete_mfa(mfa_token, method, code, client_ip(request), dpop_jkt, assertion)
    return _answer(request, issued, 201, transport == "cookie")


async def step_up(request: Request) -> Response:
    claims = await principal(request)
    body = await json_body(request)
    method, code, assertion = _factor_proof(body)
    svc = services(request)
    session = await svc.store.get_session(claims.sid)
    if session is None or session.state != "active":
        raise InvalidToken("session_ended")
    issued = await svc.mfa.step_up(claims, session, method, code, client_ip(request), assertion)
    return _answer(request, issued, 200, authenticated_by_cookie(request))


async def totp(request: Request) -> Response:
    """One route for the factor, so a 405 names every method it serves in `Allow`."""
    handler = {"POST": enrol_totp, "DELETE": remove_totp}[request.method]
    return await handler(request)


routes = [
    Route("/v1/mfa", factors, methods=["GET"]),
    Route("/v1/mfa/recovery-codes", new_recovery_codes, methods=["POST"]),
    Route("/v1/mfa/totp", totp, methods=["POST", "DELETE"]),
    Route("/v1/mfa/totp/confirm", confirm_totp, methods=["POST"]),
    Route("/v1/mfa/webauthn", webauthn_register_options, methods=["POST"]),
    Route("/v1/mfa/webauthn/confirm", webauthn_register, methods=["POST"]),
    Route("/v1/mfa/webauthn/{credential_id}", webauthn_remove, methods=["DELETE"]),
    Route("/v1/sessions/mfa", login_second_step, methods=["POST"]),
    Route("/v1/sessions/mfa/webauthn", webauthn_login_options, methods=["POST"]),
    Route("/v1/sessions/step-up", step_up, methods=["POST"]),
    Route("/v1/sessions/step-up/webauthn", webauthn_step_up_options, methods=["POST"]),
]
