"""The authenticator app (TOTP) on the pages, entirely without script: set up (a new secret to type or a setup
link, then a code of it to turn it on, then the recovery codes once), replace, and remove.

The same MfaService methods as /v1/mfa/totp, under the same rule: when the account has a factor, these changes
need a second factor checked within the policy's step_up_max_age, and the page leads to the step-up page first;
a first factor needs a password check within it, and the page asks for the password when the sign-in is older.
The secret appears only in the answers to these posts (never in a URL), and those answers are not cached.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.otp import provisioning_uri
from sessionward.errors import InvalidMfa, InvalidRequest, NotFound, TooManyAttempts
from sessionward.http.context import services
from sessionward.http.pages.factors import (
    SECURITY,
    AddRefused,
    check_to_add,
    grouped,
    needs_step_up,
    password_error,
    password_field,
    password_status,
    recovery_codes_page,
    step_up_redirect,
    throttled,
)
from sessionward.http.pages.forms import acting
from sessionward.http.pages.html import EMPTY, Html, render
from sessionward.http.pages.layout import csrf_field, field, page
from sessionward.http.pages.session import PageSession, viewer_of

_REPLACE = "mfa.totp_replace"


async def _setup_page(
    request: Request, who: PageSession, secret: str, *, message: Html = EMPTY, error: str = "", status: int = 200
) -> Response:
    viewer = await viewer_of(request, who)
    uri = provisioning_uri(secret, viewer.username)
    body = render(
        """<section class="card card-form">
<h1>Set up your authenticator app</h1>
<p class="lead">Use an authenticator app on your phone (any app for "time-based" codes). It will show a new
6-digit code every 30 seconds, which you'll enter when you sign in.</p>
{message}
<ol class="steps">
<li>
<h2>Add your account to the app</h2>
<p>In the app, choose to add an account, then to enter a setup key, and type this key:</p>
<p class="secret"><code id="totp-secret" aria-label="Setup key">{grouped}</code></p>
<p class="hint">Spaces don't matter. The code is time-based, 6 digits.</p>
<p>Or, on this phone, <a href="{uri}">open the setup link in your app</a>. The link is:</p>
<p class="secret"><code id="totp-uri" class="uri">{uri}</code></p>
</li>
<li>
<h2>Enter the code the app shows</h2>
<form method="post" action="{confirm}" class="form">
{csrf}
{code}
<div class="actions">
<button type="submit" class="btn btn-primary">Turn on</button>
<a class="btn btn-quiet" href="{security}">Cancel</a>
</div>
</form>
</li>
</ol>
</section>""",
        message=message,
        grouped=grouped(secret),
        uri=uri,
        confirm=f"{SECURITY}/totp/confirm",
        csrf=csrf_field(who.csrf_token),
        code=field("code", "6-digit code", autocomplete="one-time-code", error=error, autofocus=bool(error)),
        security=SECURITY,
    )
    response = page("Set up your authenticator app", body, viewer=viewer, current=SECURITY, status=status)
    return who.finish(request, response)


async def _password_page(request: Request, who: PageSession, refused: AddRefused) -> Response:
    """The password a first factor needs, asked before the secret is made (see MfaService.demand_to_add)."""
    asked = refused.code == "password"
    body = render(
        """<section class="card card-form">
<h1>Confirm it's you</h1>
<p class="lead">Before you set up your authenticator app, enter your password.</p>
<form method="post" action="{action}" class="form">
{csrf}
{password}
<div class="actions">
<button type="submit" class="btn btn-primary">Continue</button>
<a class="btn btn-quiet" href="{security}">Cancel</a>
</div>
</form>
</section>""",
        action=f"{SECURITY}/totp",
        csrf=csrf_field(who.csrf_token),
        password=password_field("" if asked else password_error(refused)),
        security=SECURITY,
    )
    viewer = await viewer_of(request, who)
    status = 200 if asked else password_status(refused)
    response = page("Confirm it's you", body, viewer=viewer, current=SECURITY, status=status)
    if refused.retry_after:
        response.headers["Retry-After"] = str(refused.retry_after)
    return who.finish(request, response)


async def start(request: Request) -> Response:
    """A new secret awaiting confirmation (it replaces an earlier unconfirmed one; a confirmed one stays until
    the new one is confirmed)."""
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    refused = await check_to_add(request, who, _REPLACE, form.get("current_password"))
    if refused is not None:
        if refused.code == "step_up":
            return who.finish(request, step_up_redirect(SECURITY))
        return await _password_page(request, who, refused)
    svc = services(request)
    secret, _uri = await svc.mfa.enrol_totp(who.claims.sub, await svc.auth.username_of(who.claims.sub))
    return await _setup_page(request, who, secret)


async def confirm(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    stale = await needs_step_up(request, who, _REPLACE, SECURITY, adding=True)
    if stale is not None:
        return stale
    svc = services(request)
    factor = await svc.store.get_totp(who.claims.sub)
    pending = factor.pending_secret if factor is not None else None
    if pending is None:
        return who.finish(request, RedirectResponse(f"{SECURITY}?done=totp_restart", status_code=303))
    code = form.get("code", 16).strip()
    if not code:
        return await _setup_page(request, who, pending, error="Enter the 6-digit code the app shows.", status=400)
    try:
        codes = await svc.mfa.confirm_totp(who.claims.sub, code, who.claims.sid)
    except InvalidMfa:
        wrong = "That code didn't match. Check the app shows this account, and enter the code it shows now."
        return await _setup_page(request, who, pending, error=wrong, status=401)
    except TooManyAttempts as exc:
        response = await _setup_page(request, who, pending, message=throttled(exc), status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except InvalidRequest:
        return who.finish(request, RedirectResponse(f"{SECURITY}?done=totp_restart", status_code=303))
    what = "Your authenticator app is set up. With it come these recovery codes, for the day you don't have your phone."
    viewer = await viewer_of(request, who)
    return who.finish(request, recovery_codes_page(viewer, codes, what, f"{SECURITY}?done=totp_on"))


async def remove(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, _form = answer
    stale = await needs_step_up(request, who, "mfa.totp_remove", SECURITY)
    if stale is not None:
        return stale
    try:
        await services(request).mfa.remove_totp(who.claims.sub, who.claims.sid)
    except NotFound:
        return who.finish(request, RedirectResponse(f"{SECURITY}?done=gone", status_code=303))
    return who.finish(request, RedirectResponse(f"{SECURITY}?done=totp_removed", status_code=303))


__all__ = ["confirm", "remove", "start"]
