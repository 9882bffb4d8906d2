"""Step-up: "Confirm it's you" with a second factor before a sensitive change (RFC 9470's fresh authentication).

`GET /account/step-up?next=/account/...` offers the factors the person has: a code (no script needed) and, with
a security key, the key (webauthn.js; its options come from `POST /account/step-up/options`, a page post like
any other: our origin and the session's CSRF token). `POST /account/step-up` checks the factor through
`MfaService.step_up`, as `POST /v1/sessions/step-up` does, sets the session's new cookies, and leads back to
`next`: only one of our own account pages (factors.safe_next), so the link can never send anyone elsewhere.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.numbers import ascii_digits
from sessionward.errors import InvalidMfa, InvalidRequest, InvalidToken, MfaEnrollmentRequired, TooManyAttempts
from sessionward.http.context import client_ip, services
from sessionward.http.cookies import set_session_cookies
from sessionward.http.pages.factors import (
    KEY_REFUSED,
    SECURITY,
    STEP_UP,
    code_form,
    either,
    hidden,
    key_error,
    key_form,
    options_answer,
    safe_next,
    throttled,
)
from sessionward.http.pages.forms import acting
from sessionward.http.pages.html import EMPTY, Html, join, render
from sessionward.http.pages.layout import csrf_field, notice, page
from sessionward.http.pages.messages import duration_words
from sessionward.http.pages.session import HOME, SIGNIN, NoSession, PageSession, resolve, viewer_of
from sessionward.services.webauthn import WebAuthnUnavailable

_OPTIONS = "/account/step-up/options"
_FAILED = "Couldn't confirm"


def _why(next_path: str) -> str:
    if next_path == "/account/password":
        return "To change your password, first confirm it's you with your second factor."
    if next_path.startswith(SECURITY):
        return "To change how you sign in, first confirm it's you with your second factor."
    return "This needs a recent check of your second factor. Confirm it's you to continue."


async def _page(
    request: Request, who: PageSession, next_path: str, *, message: Html = EMPTY, status: int = 200
) -> Response:
    svc = services(request)
    methods = await svc.mfa.methods_of(who.claims.sub)
    viewer = await viewer_of(request, who)
    if not methods:
        body = render(
            """<section class="card card-narrow">
<h1>No second factor yet</h1>
<p class="lead">Your account has no authenticator app or security key to confirm it's you with. Set one up first.</p>
<p><a class="btn btn-primary" href="{security}">Set up a second factor</a></p>
</section>""",
            security=SECURITY,
        )
        return who.finish(request, page("Confirm it's you", body, viewer=viewer, narrow=True, status=status))
    key = "webauthn" in methods
    codes = tuple(m for m in methods if m != "webauthn")
    fields = join((csrf_field(who.csrf_token), hidden(next=next_path)), "")
    body = render(
        """<section class="card card-narrow auth">
<h1>Confirm it's you</h1>
<p class="lead">{why}</p>
{message}
{forms}
<p class="cancel"><a href="{back}">Cancel</a></p>
</section>""",
        why=_why(next_path),
        message=message,
        forms=either(
            key_form(STEP_UP, _OPTIONS, "Use security key", fields) if key else EMPTY,
            code_form(STEP_UP, fields, codes, button="Confirm") if codes else EMPTY,
        ),
        back=HOME if next_path == "/account/password" else next_path,  # the password page would lead back here
    )
    policy = svc.sessions.cookie_policy(who.session)
    footer = f"Once confirmed, you can make changes like this for {duration_words(policy.step_up_max_age)}."
    response = page("Confirm it's you", body, viewer=viewer, narrow=True, status=status, footer=footer, script=key)
    return who.finish(request, response)


async def step_up_form(request: Request) -> Response:
    who = await resolve(request)
    if isinstance(who, NoSession):
        return who.to_signin()
    return await _page(request, who, safe_next(request.query_params.get("next", "")[:200]))


async def step_up_options(request: Request) -> Response:
    """The WebAuthn request options of a step-up of this session, for webauthn.js (JSON)."""
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, _form = answer
    try:
        options = await services(request).mfa.step_up_options(who.claims)
    except MfaEnrollmentRequired:
        return who.finish(request, options_answer(error="no_key", status=400))
    except WebAuthnUnavailable:
        return who.finish(request, options_answer(error="unavailable", status=400))
    return who.finish(request, options_answer(options))


async def step_up(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    next_path = safe_next(form.get("next", 200))
    by_key = form.get("method", 16) == "webauthn"
    assertion = form.json_object("credential") if by_key else None
    code = "" if by_key else form.get("code", 64).strip()
    if by_key and assertion is None:
        return await _page(request, who, next_path, message=key_error(form.get("webauthn_error", 32)), status=400)
    if not by_key and not code:
        return await _page(request, who, next_path, message=notice("error", "Enter the code."), status=400)
    method = "webauthn" if by_key else "totp" if ascii_digits(code.replace(" ", "")) else "recovery_code"
    svc = services(request)
    try:
        issued = await svc.mfa.step_up(who.claims, who.session, method, code, client_ip(request), assertion)
    except InvalidMfa:
        if by_key:
            return await _page(request, who, next_path, message=notice("error", KEY_REFUSED, _FAILED), status=401)
        wrong = notice(
            "error", "That code didn't work. Enter the code your app shows now, or an unused recovery code.", _FAILED
        )
        return await _page(request, who, next_path, message=wrong, status=401)
    except TooManyAttempts as exc:
        response = await _page(request, who, next_path, message=throttled(exc), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except MfaEnrollmentRequired:
        return who.finish(request, RedirectResponse(SECURITY, status_code=303))
    except InvalidToken:
        return RedirectResponse(f"{SIGNIN}?ended=expired", status_code=303)
    except InvalidRequest as exc:
        error = key_error("unavailable" if isinstance(exc, WebAuthnUnavailable) else "")
        return await _page(request, who, next_path, message=error, status=400)
    back = f"{SECURITY}?done=confirmed" if next_path == SECURITY else next_path
    response = RedirectResponse(back, status_code=303)
    set_session_cookies(response, issued, svc.sessions.cookie_policy(issued.session))
    return response


__all__ = ["step_up", "step_up_form", "step_up_options"]
