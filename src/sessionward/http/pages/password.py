"""Changing the password: a sensitive operation, so (like POST /v1/password) it needs a second factor checked
within the policy's step_up_max_age when the policy requires MFA or the user has a factor; the page leads the
person to the step-up page first, and back here."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.errors import InvalidRequest, TooManyAttempts, WrongPassword
from sessionward.http.context import client_ip, services
from sessionward.http.cookies import set_session_cookies
from sessionward.http.pages.factors import needs_step_up, throttled
from sessionward.http.pages.forms import acting
from sessionward.http.pages.html import EMPTY, Html, render
from sessionward.http.pages.layout import csrf_field, field, notice, page
from sessionward.http.pages.session import HOME, NoSession, resolve, viewer_of
from sessionward.services.sessions import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

THIS_PAGE = "/account/password"


def _password_body(csrf: str, errors: dict[str, str], message: Html = EMPTY) -> Html:
    return render(
        """<section class="card card-narrow card-form">
<h1>Change your password</h1>
<p class="lead">Changing your password signs you out on every other device. This device stays signed in.</p>
{message}
<form method="post" action="/account/password" class="form">
{csrf}
{current}
{new}
{confirm}
<div class="actions">
<button type="submit" class="btn btn-primary">Change password</button>
<a class="btn btn-quiet" href="/account/sessions">Cancel</a>
</div>
</form>
</section>""",
        message=message,
        csrf=csrf_field(csrf),
        current=field(
            "current_password",
            "Current password",
            kind="password",
            autocomplete="current-password",
            error=errors.get("current_password", ""),
            autofocus=True,
        ),
        new=field(
            "new_password",
            "New password",
            kind="password",
            autocomplete="new-password",
            hint=f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a strong password.",
            error=errors.get("new_password", ""),
            minlength=MIN_PASSWORD_LENGTH,
        ),
        confirm=field(
            "confirm_password",
            "Repeat the new password",
            kind="password",
            autocomplete="new-password",
            error=errors.get("confirm_password", ""),
        ),
    )


async def password_form(request: Request) -> Response:
    who = await resolve(request)
    if isinstance(who, NoSession):
        return who.to_signin()
    stale = await needs_step_up(request, who, "password.change", THIS_PAGE)
    if stale is not None:
        return stale
    body = _password_body(who.csrf_token, {})
    viewer = await viewer_of(request, who)
    return who.finish(request, page("Change your password", body, viewer=viewer, current=THIS_PAGE))


# The form's field names (constants: the linter takes string keys named like passwords for hard-coded secrets).
_CURRENT, _NEW, _CONFIRM = "current_password", "new_password", "confirm_password"


def _password_errors(current: str, new: str, confirm: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not current:
        errors[_CURRENT] = "Enter your current password."
    if not MIN_PASSWORD_LENGTH <= len(new) <= MAX_PASSWORD_LENGTH:
        errors[_NEW] = f"Use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
    elif new == current:
        errors[_NEW] = "Choose a password different from your current one."
    if not errors.get(_NEW) and new != confirm:
        errors[_CONFIRM] = "The two new passwords don't match."
    return errors


async def change_password(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    stale = await needs_step_up(request, who, "password.change", THIS_PAGE)
    if stale is not None:
        return stale
    svc = services(request)
    current, new, confirm = form.get("current_password"), form.get("new_password"), form.get("confirm_password")
    errors = _password_errors(current, new, confirm)
    if not errors:
        others = sum(1 for s in await svc.sessions.alive_sessions(who.claims.sub) if s.sid != who.claims.sid)
        try:
            issued = await svc.sessions.change_password(
                who.claims.sub, who.session, current, new, client_ip(request), request.headers.get("user-agent", "")
            )
        except TooManyAttempts as exc:
            body = _password_body(who.csrf_token, {}, throttled(exc))
            viewer = await viewer_of(request, who)
            wait = page("Change your password", body, viewer=viewer, current=THIS_PAGE, status=429)
            wait.headers["Retry-After"] = str(exc.retry_after)
            return who.finish(request, wait)
        except WrongPassword:
            errors[_CURRENT] = "That is not your current password."
        except InvalidRequest as exc:
            errors[_NEW] = exc.description[:1].upper() + exc.description[1:] + "."
        else:
            response = RedirectResponse(f"{HOME}?done=password&n={others}", status_code=303)
            set_session_cookies(response, issued, svc.sessions.cookie_policy(issued.session))
            return response
    message = notice("error", "Your password was not changed. Please correct the fields marked below.")
    body = _password_body(who.csrf_token, errors, message)
    viewer = await viewer_of(request, who)
    status = 403 if _CURRENT in errors and current else 400
    return who.finish(request, page("Change your password", body, viewer=viewer, current=THIS_PAGE, status=status))
