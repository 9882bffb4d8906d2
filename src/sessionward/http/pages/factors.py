"""The pieces the second-factor pages share: the code form, the security-key form, the recovery codes, the
messages of a factor check, and where step-up leads.

The security-key form (`key_form`) is the only part that needs script: it stays hidden until /static/webauthn.js
runs (without script the pages offer codes). The script posts the form itself to its `data-options` URL, a page
endpoint under /account/ that checks what every page post checks (our origin, the CSRF token or the mfa_token
of the form) and answers the WebAuthn options as JSON; it then asks the browser's authenticator and submits the
form normally with the answer in `credential`, or with a short code in `webauthn_error` when something failed.
The server verifies the answer and answers with a page, and words every message itself: the script holds no
text, no token of its own and no knowledge of the JSON API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from sessionward.errors import InsufficientAuthentication, TooManyAttempts, WrongPassword
from sessionward.http.context import client_ip, services
from sessionward.http.pages.html import EMPTY, Html, join, render
from sessionward.http.pages.layout import Viewer, field, notice, page
from sessionward.http.pages.messages import duration_words
from sessionward.http.pages.session import PageSession

SECURITY: Final = "/account/security"
STEP_UP: Final = "/account/step-up"
# Where step-up may lead back to: one of these pages of ours, compared as whole strings (so no scheme, host,
# query, "//", "\\" or dots ever gets through). Anything else leads to SECURITY: never an open redirect.
_NEXT_PAGES: Final = frozenset({SECURITY, "/account/password", "/account/sessions"})


def safe_next(value: str) -> str:
    return value if value in _NEXT_PAGES else SECURITY


def step_up_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"{STEP_UP}?next={safe_next(next_path)}", status_code=303)


async def needs_step_up(
    request: Request, who: PageSession, operation: str, back: str, *, adding: bool = False
) -> Response | None:
    """The way to the step-up page (and `back` after it) when `operation` needs a fresher second factor than
    this session shows (MfaService.demand_fresh, audited as the API does); None when it may go ahead. Adding or
    replacing a factor (`adding`) needs it only when the user has one already, as under /v1/mfa."""
    try:
        await services(request).mfa.demand_fresh(who.claims, operation, adding=adding)
    except InsufficientAuthentication:
        return who.finish(request, step_up_redirect(back))
    return None


@dataclass(frozen=True, slots=True)
class AddRefused:
    """Why adding a factor cannot begin: "step_up" (a second factor checked recently is needed), or for a first
    factor "password" (asked for), "password_wrong" or "password_throttled" (with `retry_after`)."""

    code: str
    retry_after: int = 0


_PASSWORD_STATUS: Final = {"password": 401, "password_wrong": 403, "password_throttled": 429}


async def check_to_add(request: Request, who: PageSession, operation: str, current_password: str) -> AddRefused | None:
    """MfaService.demand_to_add for a page: None when adding may begin (a right `current_password` counted)."""
    try:
        await services(request).mfa.demand_to_add(who.claims, operation, current_password or None, client_ip(request))
    except InsufficientAuthentication as exc:
        return AddRefused("step_up" if exc.acr_values is not None else "password")
    except WrongPassword:
        return AddRefused("password_wrong")
    except TooManyAttempts as exc:
        return AddRefused("password_throttled", exc.retry_after)
    return None


def password_field(error: str = "") -> Html:
    """The password a first factor asks for, in the form that begins adding it."""
    return field(
        "current_password",
        "Your password",
        kind="password",
        autocomplete="current-password",
        hint="Setting up your first second factor needs your password: it's been a while since you signed in.",
        error=error,
        autofocus=bool(error),
    )


def password_error(refused: AddRefused) -> str:
    if refused.code == "password_wrong":
        return "That password isn't right."
    if refused.code == "password_throttled":
        return f"Too many attempts. Wait about {duration_words(max(60, refused.retry_after))} and try again."
    return "Enter your password to go on."


def password_status(refused: AddRefused) -> int:
    return _PASSWORD_STATUS.get(refused.code, 401)


def options_answer(options: dict[str, object] | None = None, error: str = "", status: int = 200) -> JSONResponse:
    """What an options endpoint answers webauthn.js: {"publicKey": ...}, or {"error": code} (a code of
    KEY_ERRORS, which the script hands back in the form's `webauthn_error`)."""
    body: dict[str, object] = {"publicKey": options} if options is not None else {"error": error}
    return JSONResponse(body, status_code=status if options is None else 200, headers={"Cache-Control": "no-store"})


# webauthn_error (a DOMException name from the browser, or an options endpoint's error) -> what to say.
KEY_ERRORS: Final = {
    "NotAllowedError": "The security key didn't answer: it was cancelled or too slow, or it couldn't confirm it's "
    "you (with its PIN, fingerprint or face). Try again.",
    "AbortError": "The security key request was cancelled. Try again.",
    "InvalidStateError": "That security key is already registered to your account.",
    "NotSupportedError": "This browser can't use a security key here.",
    "SecurityError": "The browser refused to use a security key at this address. Open this site at its usual "
    "address and try again.",
    "unsupported": "This browser can't use security keys.",
    "no_key": "No security key is registered to your account.",
    "limit": "Your account has as many security keys as it can. Remove one before you add another.",
    "unavailable": "Security keys can't be used with this server's address. Ask your administrator.",
    "password": "Enter your password to add your first security key.",
    "password_wrong": "That password isn't right. Enter your password to add your first security key.",
    "password_throttled": "Too many attempts. Wait a few minutes and try again.",
}
KEY_FAILED: Final = "Something went wrong with the security key. Try again."
KEY_REFUSED: Final = (
    "Your security key's answer wasn't accepted: it may have been used already, taken too long, or not confirmed "
    "it's you. Try again."
)


def key_error(code: str) -> Html:
    return notice("error", KEY_ERRORS.get(code[:32], KEY_FAILED), "Security key not used")


def throttled(exc: TooManyAttempts, then: str = "try again") -> Html:
    wait = duration_words(max(60, exc.retry_after))
    return notice("error", f"Too many attempts. Wait about {wait} and {then}.", "Please wait")


def hidden(**fields: str) -> Html:
    return join(
        (render('<input type="hidden" name="{name}" value="{value}">', name=n, value=v) for n, v in fields.items()),
        "",
    )


def key_form(
    action: str, options_url: str, button: str, fields: Html, *, create: bool = False, extra: Html = EMPTY
) -> Html:
    """The security-key form: hidden until webauthn.js takes it over (see the module's docstring)."""
    return render(
        """<form method="post" action="{action}" class="form key-form" data-webauthn="{kind}" data-options="{options}"
 hidden>
{fields}<input type="hidden" name="method" value="webauthn">
<input type="hidden" name="credential" value="">
<input type="hidden" name="webauthn_error" value="">
{extra}
<button type="submit" class="btn {style} btn-block">{key}{button}</button>
</form>
<noscript><p class="hint">To use a security key, turn on JavaScript for this site.</p></noscript>""",
        action=action,
        kind="create" if create else "get",
        options=options_url,
        fields=fields,
        extra=extra,
        style="btn-primary" if not create else "btn-secondary",
        key=KEY_ICON,
        button=button,
    )


KEY_ICON: Final = Html(
    '<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><circle cx="8" cy="15" r="4"/>'
    '<path d="m10.8 12.2 8.7-8.7M16.5 6.5l2.5 2.5M14 9l2 2"/></svg>'
)


def code_form(action: str, fields: Html, methods: tuple[str, ...], *, error: str = "", button: str = "Verify") -> Html:
    """A code from the authenticator app or a recovery code, in one field: digits are a TOTP code."""
    totp = "totp" in methods
    label = "Code" if totp else "Recovery code"
    hint = (
        "The 6-digit code your authenticator app shows now, or one of your recovery codes."
        if totp
        else "One of the recovery codes you stored when you set up your second factor."
    )
    return render(
        """<form method="post" action="{action}" class="form">
{fields}{code}
<button type="submit" class="btn btn-primary btn-block">{button}</button>
</form>""",
        action=action,
        fields=fields,
        code=field("code", label, autocomplete="one-time-code", hint=hint, error=error, autofocus=True),
        button=button,
    )


def either(first: Html, second: Html) -> Html:
    """Two ways to answer, one above the other, with "or" between when both are there."""
    if first and second:
        return render(
            '{first}\n<p class="or" aria-hidden="true"><span>or</span></p>\n{second}', first=first, second=second
        )
    return first or second


def recovery_codes_page(viewer: Viewer, codes: list[str], what: str, after: str) -> Response:
    """The recovery codes, shown this once: the page is not cached and the codes are stored only hashed."""
    body = render(
        """<section class="card card-form">
<h1>Save your recovery codes</h1>
<p class="lead">{what}</p>
{warning}
<ol class="codes" aria-label="Recovery codes">
{items}
</ol>
<p class="hint">Each code works once, in place of your second factor, when you sign in or confirm it's you. Keep
them somewhere safe and apart from this device: a password manager, or printed in a drawer.</p>
<div class="actions actions-apart"><a class="btn btn-primary" href="{after}">I've stored them</a></div>
</section>""",
        what=what,
        warning=notice(
            "warning",
            "This is the only time they are shown. If you lose your phone or your security key, they are how you "
            "get back into your account.",
            "Store these now",
        ),
        items=join(render("<li><code>{code}</code></li>", code=c) for c in codes),
        after=after,
    )
    return page("Save your recovery codes", body, viewer=viewer, current=SECURITY)


def grouped(secret: str) -> str:
    """A secret in groups of four, for typing: "ABCD EFGH ..."."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def second_step_page(mfa_token: str, methods: tuple[str, ...], *, message: Html = EMPTY, status: int = 200) -> Response:
    """The second step after a right password, offering the methods the person has: the security key (with
    script), and a code from the authenticator app or a recovery code (always, script or not).

    The single-use mfa_token rides in a hidden field of each POST form (never in a URL); the page is not
    cached. The security-key form carries it like the code form does, and webauthn.js posts that same form to
    /account/signin/mfa/options: the token never goes anywhere the page's own form posts would not take it
    (it is bound to this address and spent by the login), and the script never handles it on its own."""
    key = "webauthn" in methods
    codes = tuple(m for m in methods if m != "webauthn") or (() if key else ("totp", "recovery_code"))
    if key and "totp" in codes:
        lead = "Use your security key, or enter the 6-digit code from your authenticator app or a recovery code."
    elif key:
        lead = "Use your security key, or enter one of your recovery codes."
    else:
        lead = "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
    token = hidden(mfa_token=mfa_token)
    body = render(
        """<section class="card card-narrow auth">
<h1>Second step</h1>
<p class="lead">{lead}</p>
{message}
{forms}
</section>""",
        lead=lead,
        message=message,
        forms=either(
            key_form("/account/signin/mfa", "/account/signin/mfa/options", "Use security key", token) if key else EMPTY,
            code_form("/account/signin/mfa", token, codes) if codes else EMPTY,
        ),
    )
    return page("Second step", body, status=status, narrow=True, script=key)
