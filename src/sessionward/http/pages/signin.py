"""Signing in (its second step: second_step.py) and out, the front door (`GET /`), and the static files the
pages use."""

from __future__ import annotations

import contextlib

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.errors import (
    InvalidCredentials,
    InvalidRequest,
    MfaEnrollmentRequired,
    MfaRequired,
    NotFound,
    SessionLimit,
    TooManyAttempts,
)
from sessionward.http.context import client_ip, services
from sessionward.http.cookies import expire_session_cookies, has_session_cookie, refresh_cookie, set_session_cookies
from sessionward.http.pages.factors import second_step_page
from sessionward.http.pages.forms import read_form, refuse_other_origins, refuse_without_token
from sessionward.http.pages.html import EMPTY, Html, render
from sessionward.http.pages.layout import STATIC_DIR, STATIC_TYPES, NoticeKind, field, notice, page
from sessionward.http.pages.messages import duration_words, ended_message
from sessionward.http.pages.session import HOME, SIGNIN, NoSession, resolve
from sessionward.services.auth import LoginRequest
from sessionward.services.tokens import refresh_token_hash

WEB_CLIENT = "web"


def signin_page(
    request: Request,
    *,
    message: Html = EMPTY,
    username: str = "",
    offer_revoke: bool = False,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    policy = services(request).settings.policy_for_client(WEB_CLIENT)
    revoke = (
        Html(
            '<div class="check"><input type="checkbox" id="revoke_other_sessions" name="revoke_other_sessions" '
            'value="yes"><label for="revoke_other_sessions">Sign out my other sessions so I can sign in '
            "here</label></div>"
        )
        if offer_revoke
        else EMPTY
    )
    body = render(
        """<section class="card card-narrow auth">
<h1>Sign in</h1>
<p class="lead">Sign in to see where your account is signed in and to manage your password.</p>
{message}
<form method="post" action="/account/signin" class="form">
{username}
{password}
{revoke}
<button type="submit" class="btn btn-primary btn-block">Sign in</button>
</form>
</section>""",
        message=message,
        username=field(
            "username", "Username", autocomplete="username", value=username, autofocus=not username, hint=""
        ),
        password=field(
            "password", "Password", kind="password", autocomplete="current-password", autofocus=bool(username)
        ),
        revoke=revoke,
    )
    footer = (
        f"For your security, you are signed out after {duration_words(policy.idle_timeout)} without activity "
        f"and after {duration_words(policy.absolute_timeout)} at most."
    )
    response = page("Sign in", body, status=status, narrow=True, footer=footer)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def root(request: Request) -> Response:
    return RedirectResponse(HOME if has_session_cookie(request) else SIGNIN, status_code=303)


async def signin_form(request: Request) -> Response:
    who = await resolve(request)
    if not isinstance(who, NoSession):
        return who.finish(request, RedirectResponse(HOME, status_code=303))
    code = request.query_params.get("ended", "") or (who.reason or "")
    policy = services(request).settings.policy_for_client(WEB_CLIENT)
    said = ended_message(code[:32], policy.idle_timeout, policy.absolute_timeout)
    kind: NoticeKind = "success" if code == "signedout" else "warning"
    response = signin_page(request, message=notice(kind, said[1], said[0]) if said else EMPTY)
    if who.had_cookies:
        expire_session_cookies(response)
    return response


async def end_previous_session(request: Request) -> None:
    """Signing in again in one browser replaces its session: the one its cookies held ends (no ghost rows)."""
    token = refresh_cookie(request)
    if token is None:
        return
    svc = services(request)
    found = await svc.store.get_refresh_and_session(refresh_token_hash(token))
    if found is not None and found[1].state == "active":
        await svc.sessions.end_by_sid(found[1].sid, "logout", "user")


async def signin(request: Request) -> Response:
    refused = await refuse_other_origins(request)  # login forgery: a foreign page must not sign us in
    if refused is not None:
        return refused
    form = await read_form(request)
    username, password = form.get("username", 64).strip(), form.get("password")
    if not username or not password:
        error = notice("error", "Enter your username and your password.")
        return signin_page(request, message=error, username=username, status=400)
    svc = services(request)
    try:
        issued = await svc.auth.login(
            LoginRequest(
                username,
                password,
                WEB_CLIENT,
                client_ip(request),
                request.headers.get("user-agent", ""),
                form.get("revoke_other_sessions") == "yes",
            )
        )
    except InvalidCredentials:
        error = notice("error", "The username or password is incorrect.", "Couldn't sign you in")
        return signin_page(request, message=error, username=username, status=401)
    except TooManyAttempts as exc:
        wait = duration_words(max(60, exc.retry_after))
        error = notice("error", f"Too many attempts. Wait about {wait} and try again.", "Please wait")
        return signin_page(
            request, message=error, username=username, status=429, headers={"Retry-After": str(exc.retry_after)}
        )
    except SessionLimit:
        error = notice(
            "warning",
            "Your account is signed in on as many devices as it allows. Sign out of one of them, or tick the box "
            "below to sign out of all of them and continue here.",
            "Too many devices",
        )
        return signin_page(request, message=error, username=username, offer_revoke=True, status=409)
    except MfaEnrollmentRequired:
        error = notice(
            "error",
            "This account needs a second sign-in step and has none set up yet. Ask your administrator for help.",
            "Second step required",
        )
        return signin_page(request, message=error, username=username, status=403)
    except MfaRequired as exc:
        return second_step_page(exc.mfa_token, exc.methods, status=401)
    except InvalidRequest:
        error = notice("error", "Enter your username and your password.")
        return signin_page(request, message=error, username=username, status=400)
    await end_previous_session(request)
    response = RedirectResponse(HOME, status_code=303)
    policy = svc.sessions.cookie_policy(issued.session)
    set_session_cookies(response, issued, policy)
    return response


async def signout(request: Request) -> Response:
    refused = await refuse_other_origins(request)
    if refused is not None:
        return refused
    who = await resolve(request)
    if isinstance(who, NoSession):
        response = RedirectResponse(f"{SIGNIN}?ended=signedout", status_code=303)
        expire_session_cookies(response, clear_site_data=True)
        return response
    form = await read_form(request)
    refused = await refuse_without_token(request, form, who)
    if refused is not None:
        return refused
    with contextlib.suppress(NotFound):  # ended in the meantime: signed out all the same
        await services(request).sessions.end_own(who.claims.sub, who.claims.sid, who.claims.sid, "logout")
    response = RedirectResponse(f"{SIGNIN}?ended=signedout", status_code=303)
    expire_session_cookies(response, clear_site_data=True)
    return response


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_TYPES:
        raise HTTPException(404, "no such file")
    return Response(
        (STATIC_DIR / name).read_bytes(),
        media_type=STATIC_TYPES[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


__all__ = ["end_previous_session", "root", "signin", "signin_form", "signin_page", "signout", "static"]
