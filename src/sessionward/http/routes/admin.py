"""Administration: creating users, ending every session of a user, resetting a user's lost second factor.
Admins only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.core.names import check_username
from sessionward.crypto.jwt import AccessClaims
from sessionward.errors import Forbidden, NotFound
from sessionward.http.body import json_body
from sessionward.http.context import principal, rfc3339, services
from sessionward.services.sessions import check_new_password


async def admin_principal(request: Request, operation: str = "admin") -> AccessClaims:
    """The caller's admin right is read from the store on every call: a demotion takes effect at once.
    `operation` names the step-up demand in the audit trail (`step_up.required`)."""
    claims = await principal(request)
    user = await services(request).store.get_user(claims.sub)
    if user is None or not user.is_admin:
        raise Forbidden("this operation is for administrators")
    # A sensitive operation: a fresh second factor when the policy requires MFA or the admin has a factor.
    await services(request).mfa.demand_fresh(claims, operation)
    return claims


async def create_user(request: Request) -> Response:
    claims = await admin_principal(request)
    body = await json_body(request)
    username = check_username(body.string("username", max_len=64))
    password = body.string("password", max_len=1024)
    check_new_password(password)
    is_admin = body.boolean("admin")
    user = await services(request).auth.create_user(username, password, is_admin, f"admin:{claims.sub}")
    return JSONResponse(
        {
            "user_id": user.user_id,
            "username": user.username,
            "admin": user.is_admin,
            "created_at": rfc3339(user.created_at),
        },
        status_code=201,
    )


async def end_user_sessions(request: Request) -> Response:
    claims = await admin_principal(request)
    svc = services(request)
    user = await svc.store.get_user_by_name(request.path_params["username"])
    if user is None:
        raise NotFound("no such user")
    await svc.sessions.end_all_of(user.user_id, f"admin:{claims.sub}")
    return Response(status_code=204)


async def reset_user_factors(request: Request) -> Response:
    """A user lost their second factor: every factor (TOTP, security keys), recovery code and open WebAuthn
    challenge of the user goes, and every session of the user ends; the user signs in with the password alone and
    enrols again. Audited as `mfa.reset` with the admin as `by`.

    An admin may reset their own factors: that ends their own sessions too, the one making this call included
    (the 204 is the last answer its token gets)."""
    claims = await admin_principal(request, "admin.mfa_reset")
    svc = services(request)
    user = await svc.store.get_user_by_name(request.path_params["username"])
    if user is None:
        raise NotFound("no such user")
    await svc.mfa.reset_factors(user.user_id, f"admin:{claims.sub}")
    return Response(status_code=204)


routes = [
    Route("/v1/admin/users", create_user, methods=["POST"]),
    Route("/v1/admin/users/{username}/sessions", end_user_sessions, methods=["DELETE"]),
    Route("/v1/admin/users/{username}/mfa", reset_user_factors, methods=["DELETE"]),
]
