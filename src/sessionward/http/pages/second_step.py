"""The second step of signing in on the pages: a code (no script needed), or a security key (webauthn.js).

How the security key gets its challenge: the second-step page (factors.second_step_page) holds the single-use
mfa_token in a hidden field, as it always did for the code form. The script posts that same form to
`POST /account/signin/mfa/options`, which checks our origin like every sign-in post and answers the WebAuthn
request options of this login (the challenge is bound to the mfa_token, which is bound to this address); the
script then submits the form to `POST /account/signin/mfa` with the assertion in `credential`. So the token
stays in the page flow: it travels only in form bodies to our own /account/ endpoints, never in a URL, a cookie
or script state, and the page endpoints call the same AuthService methods as the JSON API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.numbers import ascii_digits
from sessionward.errors import InvalidMfa, InvalidRequest, MfaTokenUnusable, SessionLimit, TooManyAttempts
from sessionward.http.context import client_ip, services
from sessionward.http.cookies import set_session_cookies
from sessionward.http.pages.factors import KEY_REFUSED, key_error, options_answer, second_step_page, throttled
from sessionward.http.pages.forms import read_form, refuse_other_origins
from sessionward.http.pages.html import Html
from sessionward.http.pages.layout import notice
from sessionward.http.pages.session import HOME, SIGNIN
from sessionward.http.pages.signin import end_previous_session, signin_page
from sessionward.services.tokens import refresh_token_hash
from sessionward.services.webauthn import WebAuthnUnavailable

_CODE_FAILED = "That code didn't work. Try the current code, or sign in again if this page has been open a while."
_SIGN_IN_AGAIN = "This sign-in has expired or was used already. Sign in again."


async def _methods(request: Request, mfa_token: str) -> tuple[str, ...]:
    """The methods of the login this mfa_token continues (what the password step offered), to show them again."""
    svc = services(request)
    found = await svc.store.get_mfa_challenge(refresh_token_hash(mfa_token))
    return await svc.mfa.methods_of(found.user_id) if found is not None else ("totp", "recovery_code")


async def _again(request: Request, mfa_token: str, message: Html, status: int) -> Response:
    return second_step_page(mfa_token, await _methods(request, mfa_token), message=message, status=status)


async def signin_mfa_options(request: Request) -> Response:
    """The WebAuthn request options of this login, for webauthn.js (JSON; see the module's docstring)."""
    refused = await refuse_other_origins(request)
    if refused is not None:
        return refused
    form = await read_form(request)
    try:
        options = await services(request).auth.webauthn_login_options(form.get("mfa_token", 128), client_ip(request))
    except InvalidMfa:
        return options_answer(error="expired", status=401)
    except WebAuthnUnavailable:
        return options_answer(error="unavailable", status=400)
    except InvalidRequest:
        return options_answer(error="no_key", status=400)
    return options_answer(options)


async def signin_mfa(request: Request) -> Response:
    refused = await refuse_other_origins(request)  # login forgery: a foreign page must not sign us in
    if refused is not None:
        return refused
    form = await read_form(request)
    mfa_token = form.get("mfa_token", 128)
    if not mfa_token:
        return RedirectResponse(SIGNIN, status_code=303)
    by_key = form.get("method", 16) == "webauthn"
    assertion = form.json_object("credential") if by_key else None
    code = "" if by_key else form.get("code", 64).strip()
    if by_key and assertion is None:
        error = form.get("webauthn_error", 32)
        if error == "expired":
            return signin_page(request, message=notice("error", _SIGN_IN_AGAIN, "Couldn't verify"), status=401)
        return await _again(request, mfa_token, key_error(error), 400)
    if not by_key and not code:
        return await _again(request, mfa_token, notice("error", "Enter the code."), 400)
    method = "webauthn" if by_key else "totp" if ascii_digits(code.replace(" ", "")) else "recovery_code"
    svc = services(request)
    try:
        issued = await svc.auth.complete_mfa(mfa_token, method, code, client_ip(request), None, assertion)
    except MfaTokenUnusable:  # burned, expired or used: the same form can never succeed, so start over
        return signin_page(request, message=notice("error", _SIGN_IN_AGAIN, "Couldn't verify"), status=401)
    except InvalidMfa:
        error = notice("error", KEY_REFUSED if by_key else _CODE_FAILED, "Couldn't verify")
        return await _again(request, mfa_token, error, 401)
    except InvalidRequest as exc:
        return await _again(
            request, mfa_token, key_error("unavailable" if isinstance(exc, WebAuthnUnavailable) else ""), 400
        )
    except TooManyAttempts as exc:
        error = throttled(exc, "sign in again")
        return signin_page(request, message=error, status=429, headers={"Retry-After": str(exc.retry_after)})
    except SessionLimit:
        error = notice(
            "warning",
            "Your account is signed in on as many devices as it allows. Sign out of one of them, or tick the box "
            "below to sign out of all of them and continue here.",
            "Too many devices",
        )
        return signin_page(request, message=error, offer_revoke=True, status=409)
    await end_previous_session(request)
    response = RedirectResponse(HOME, status_code=303)
    policy = svc.sessions.cookie_policy(issued.session)
    set_session_cookies(response, issued, policy)
    return response


__all__ = ["signin_mfa", "signin_mfa_options"]
