"""The security page: the second factors of the account (authenticator app, security keys, recovery codes),
adding or removing a security key, and new recovery codes (the authenticator app's pages: totp.py).

Every change goes through the same MfaService methods as /v1/mfa, under the same rule: changing factors needs a
second factor checked within the policy's step_up_max_age (when the account has one), and the page leads to the
step-up page and back when it is missing. Adding a key needs webauthn.js: the add form posts itself to
`POST /account/security/key/options` for the registration options, then to `POST /account/security/key` with the
authenticator's answer (see factors.py); without script the page says a key needs JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.models import WebAuthnCredential
from sessionward.errors import InvalidMfa, InvalidRequest, MfaEnrollmentRequired, NotFound, TooManyAttempts
from sessionward.http.context import services
from sessionward.http.pages.factors import (
    KEY_ERRORS,
    KEY_REFUSED,
    SECURITY,
    check_to_add,
    key_error,
    key_form,
    needs_step_up,
    options_answer,
    password_field,
    password_status,
    recovery_codes_page,
    step_up_redirect,
    throttled,
)
from sessionward.http.pages.forms import acting
from sessionward.http.pages.html import EMPTY, Html, join, render
from sessionward.http.pages.layout import NoticeKind, csrf_field, field, notice, page
from sessionward.http.pages.messages import security_message
from sessionward.http.pages.session import NoSession, PageSession, resolve, viewer_of
from sessionward.services.webauthn import WebAuthnUnavailable


def _date(ts: float) -> Html:
    moment = datetime.fromtimestamp(ts, UTC)
    return render(
        '<time datetime="{iso}">{text}</time>',
        iso=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        text=moment.strftime("%-d %b %Y"),
    )


def _post_button(action: str, csrf: str, text: str, style: str, fields: Html = EMPTY, label: str = "") -> Html:
    return render(
        '<form method="post" action="{action}" class="inline">{csrf}{fields}'
        '<button type="submit" class="btn {style} btn-small">{text}{label}</button></form>',
        action=action,
        csrf=csrf_field(csrf),
        fields=fields,
        style=style,
        text=text,
        label=render('<span class="visually-hidden"> {label}</span>', label=label) if label else EMPTY,
    )


def _state(on: bool) -> Html:
    return Html('<span class="state state-on">On</span>' if on else '<span class="state">Off</span>')


def _totp_card(on: bool, csrf: str, ask_password: bool) -> Html:
    if on:
        actions = join(
            (
                _post_button(f"{SECURITY}/totp", csrf, "Replace", "btn-secondary", label="the authenticator app"),
                _post_button(f"{SECURITY}/totp/remove", csrf, "Remove", "btn-danger", label="the authenticator app"),
            ),
            "",
        )
    else:
        fields = password_field() if ask_password else EMPTY
        actions = _post_button(f"{SECURITY}/totp", csrf, "Set up authenticator app", "btn-primary", fields)
    return render(
        """<section class="card factor" aria-labelledby="totp-title">
<div class="factor-head"><h2 id="totp-title">Authenticator app</h2>{state}</div>
<p class="hint">A 6-digit code from an app on your phone, new every 30 seconds.</p>
<div class="actions">{actions}</div>
</section>""",
        state=_state(on),
        actions=actions,
    )


def _key_item(key: WebAuthnCredential, csrf: str) -> Html:
    used = _date(key.last_used_at) if key.last_used_at is not None else Html("never")
    remove = _post_button(
        f"{SECURITY}/key/remove",
        csrf,
        "Remove",
        "btn-danger",
        render('<input type="hidden" name="credential_id" value="{id}">', id=key.credential_id),
        label=key.name,
    )
    return render(
        """<li class="key" data-credential-id="{id}">
<div><p class="key-name">{name}</p><p class="hint">Added {added} · last used {used}</p></div>
{remove}
</li>""",
        id=key.credential_id,
        name=key.name,
        added=_date(key.created_at),
        used=used,
        remove=remove,
    )


def _keys_card(keys: list[WebAuthnCredential], csrf: str, name: str, ask_password: bool) -> Html:
    listed = (
        render('<ul class="keys">\n{items}\n</ul>', items=join(_key_item(k, csrf) for k in keys)) if keys else EMPTY
    )
    label = field(
        "key_name", "Name for the new key", value=name, hint="For example “Blue USB key” or “Laptop”.", required=False
    )
    return render(
        """<section class="card factor" aria-labelledby="keys-title">
<div class="factor-head"><h2 id="keys-title">Security keys</h2>{state}</div>
<p class="hint">A USB or NFC key, or this device's fingerprint or face unlock (a passkey).</p>
{listed}
{add}
</section>""",
        state=_state(bool(keys)),
        listed=listed,
        add=key_form(
            f"{SECURITY}/key",
            f"{SECURITY}/key/options",
            "Add security key",
            csrf_field(csrf),
            create=True,
            extra=join((label, password_field()), "\n") if ask_password else label,
        ),
    )


def _codes_card(left: int, csrf: str) -> Html:
    return render(
        """<section class="card factor" aria-labelledby="codes-title">
<div class="factor-head"><h2 id="codes-title">Recovery codes</h2></div>
<p class="hint">{left}. Each one works once, in place of your app or key, if you lose them. New codes replace all
the old ones.</p>
<div class="actions">{new}</div>
</section>""",
        left=f"{left} unused recovery code{'' if left == 1 else 's'} left" if left else "No unused recovery codes left",
        new=_post_button(f"{SECURITY}/recovery-codes", csrf, "Get new recovery codes", "btn-secondary"),
    )


async def _security(
    request: Request, who: PageSession, *, message: Html = EMPTY, status: int = 200, name: str = ""
) -> Response:
    svc = services(request)
    user = who.claims.sub
    totp = await svc.store.get_totp(user)
    keys = await svc.store.list_webauthn_credentials(user)
    left = await svc.store.recovery_codes_left(user)
    on = totp is not None and totp.secret is not None
    codes = _codes_card(left, who.csrf_token) if on or keys else EMPTY
    ask = await svc.mfa.first_factor_needs_password(who.claims)
    body = render(
        """<div class="page-head">
<h1>Sign-in security</h1>
<p class="lead">A second factor keeps your account safe even if someone learns your password. You'll be asked for it
when you sign in, and again before changes like these.</p>
</div>
{message}
<div class="factors">
{totp}
{keys}
{codes}
</div>""",
        message=message,
        totp=_totp_card(on, who.csrf_token, ask),
        keys=_keys_card(keys, who.csrf_token, name, ask),
        codes=codes,
    )
    viewer = await viewer_of(request, who)
    response = page("Sign-in security", body, viewer=viewer, current=SECURITY, status=status, script=True)
    return who.finish(request, response)


async def security_page(request: Request) -> Response:
    who = await resolve(request)
    if isinstance(who, NoSession):
        return who.to_signin()
    svc = services(request)
    policy = svc.sessions.cookie_policy(who.session)
    said = security_message(request.query_params.get("done", "")[:16], policy.step_up_max_age)
    kind: NoticeKind = "warning" if said is not None and said[0] == "warning" else "success"
    return await _security(request, who, message=notice(kind, said[1]) if said else EMPTY)


async def key_options(request: Request) -> Response:
    """The WebAuthn registration options for webauthn.js (JSON), under the rule of factor changes."""
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    refused = await check_to_add(request, who, "mfa.webauthn_add", form.get("current_password"))
    if refused is not None:
        if refused.code == "step_up":
            return who.finish(request, options_answer(error="step_up", status=401))
        return who.finish(request, options_answer(error=refused.code, status=password_status(refused)))
    svc = services(request)
    try:
        options = await svc.mfa.webauthn_options(who.claims.sub, await svc.auth.username_of(who.claims.sub))
    except WebAuthnUnavailable:
        return who.finish(request, options_answer(error="unavailable", status=400))
    except InvalidRequest:
        return who.finish(request, options_answer(error="limit", status=400))
    return who.finish(request, options_answer(options))


async def add_key(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    credential = form.json_object("credential")
    if credential is None and form.get("webauthn_error", 32) == "step_up":
        # The options request was refused for want of a step-up, and audited: go there without a second record.
        # (Only ever towards more checking: a forged "step_up" just leads to the step-up page.)
        return who.finish(request, step_up_redirect(SECURITY))
    stale = await needs_step_up(request, who, "mfa.webauthn_add", SECURITY, adding=True)
    if stale is not None:
        return stale
    name = form.get("key_name", 64).strip()
    if credential is None:
        return await _security(request, who, message=key_error(form.get("webauthn_error", 32)), status=400, name=name)
    svc = services(request)
    try:
        added, codes = await svc.mfa.confirm_webauthn(who.claims.sub, credential, name, who.claims.sid)
    except InvalidMfa:
        return await _security(
            request, who, message=notice("error", KEY_REFUSED, "Key not added"), status=400, name=name
        )
    except TooManyAttempts as exc:
        response = await _security(request, who, message=throttled(exc), status=429, name=name)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except InvalidRequest as exc:
        said = KEY_ERRORS["unavailable" if isinstance(exc, WebAuthnUnavailable) else "InvalidStateError"]
        return await _security(request, who, message=notice("error", said, "Key not added"), status=400, name=name)
    if codes:
        what = (
            f"Your security key “{added.name}” is set up. With it come these recovery codes, for the day you "
            "don't have the key with you."
        )
        viewer = await viewer_of(request, who)
        return who.finish(request, recovery_codes_page(viewer, codes, what, f"{SECURITY}?done=key_added"))
    return who.finish(request, RedirectResponse(f"{SECURITY}?done=key_added", status_code=303))


async def remove_key(request: Request) -> Response:
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, form = answer
    stale = await needs_step_up(request, who, "mfa.webauthn_remove", SECURITY)
    if stale is not None:
        return stale
    try:
        await services(request).mfa.remove_webauthn(who.claims.sub, form.get("credential_id", 512), who.claims.sid)
    except NotFound:
        return who.finish(request, RedirectResponse(f"{SECURITY}?done=gone", status_code=303))
    return who.finish(request, RedirectResponse(f"{SECURITY}?done=key_removed", status_code=303))


async def new_codes(request: Request) -> Response:
    """Ten new recovery codes in place of the old ones, shown this once: a factor change, under its rule."""
    answer = await acting(request)
    if isinstance(answer, Response):
        return answer
    who, _form = answer
    stale = await needs_step_up(request, who, "mfa.recovery_codes_replace", SECURITY)
    if stale is not None:
        return stale
    try:
        codes = await services(request).mfa.new_recovery_codes(who.claims.sub, who.claims.sid)
    except MfaEnrollmentRequired:
        return who.finish(request, RedirectResponse(f"{SECURITY}?done=no_factor", status_code=303))
    what = "Here are your new recovery codes. The old codes no longer work: only these do now."
    viewer = await viewer_of(request, who)
    return who.finish(request, recovery_codes_page(viewer, codes, what, f"{SECURITY}?done=codes_new"))


__all__ = ["add_key", "key_options", "new_codes", "remove_key", "security_page"]
