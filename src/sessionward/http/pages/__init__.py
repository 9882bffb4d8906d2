"""The pages for people (SPEC 5): sign-in (and its second step), "Where you're signed in", password change,
sign-in security (second factors, security keys), step-up, sign-out.

Server-rendered HTML that works without script (security keys excepted: they need /static/webauthn.js); the
cookie transport; CSRF-checked form posts; a strict Content-Security-Policy (http/security.py). Not part of the
JSON API or its OpenAPI document.
"""

from __future__ import annotations

from starlette.routing import Route

from sessionward.http.pages import account, mfa, password, second_step, signin, step_up, totp
from sessionward.http.security import is_page_path

routes = [
    Route("/", signin.root, methods=["GET"]),
    Route("/account/signin", signin.signin_form, methods=["GET"]),
    Route("/account/signin", signin.signin, methods=["POST"]),
    Route("/account/signin/mfa", second_step.signin_mfa, methods=["POST"]),
    Route("/account/signin/mfa/options", second_step.signin_mfa_options, methods=["POST"]),
    Route("/account/signout", signin.signout, methods=["POST"]),
    Route("/account/sessions", account.sessions_page, methods=["GET"]),
    Route("/account/sessions/end", account.end_session, methods=["POST"]),
    Route("/account/sessions/others", account.end_others, methods=["POST"]),
    Route("/account/password", password.password_form, methods=["GET"]),
    Route("/account/password", password.change_password, methods=["POST"]),
    Route("/account/security", mfa.security_page, methods=["GET"]),
    Route("/account/security/totp", totp.start, methods=["POST"]),
    Route("/account/security/totp/confirm", totp.confirm, methods=["POST"]),
    Route("/account/security/totp/remove", totp.remove, methods=["POST"]),
    Route("/account/security/key", mfa.add_key, methods=["POST"]),
    Route("/account/security/key/options", mfa.key_options, methods=["POST"]),
    Route("/account/security/key/remove", mfa.remove_key, methods=["POST"]),
    Route("/account/security/recovery-codes", mfa.new_codes, methods=["POST"]),
    Route("/account/step-up", step_up.step_up_form, methods=["GET"]),
    Route("/account/step-up", step_up.step_up, methods=["POST"]),
    Route("/account/step-up/options", step_up.step_up_options, methods=["POST"]),
    Route("/static/{name}", signin.static, methods=["GET"]),
]

__all__ = ["is_page_path", "routes"]
