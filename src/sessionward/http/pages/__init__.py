"""The pages for people (SPEC 5): sign-in, "Where you're signed in", password change, sign-out.

Server-rendered HTML that works without script; the cookie transport; CSRF-checked form posts; a strict
Content-Security-Policy (http/security.py). Not part of the JSON API or its OpenAPI document.
"""

from __future__ import annotations

from starlette.routing import Route

from sessionward.http.pages import account, signin
from sessionward.http.security import is_page_path

routes = [
    Route("/", signin.root, methods=["GET"]),
    Route("/account/signin", signin.signin_form, methods=["GET"]),
    Route("/account/signin", signin.signin, methods=["POST"]),
    Route("/account/signin/mfa", signin.signin_mfa, methods=["POST"]),
    Route("/account/signout", signin.signout, methods=["POST"]),
    Route("/account/sessions", account.sessions_page, methods=["GET"]),
    Route("/account/sessions/end", account.end_session, methods=["POST"]),
    Route("/account/sessions/others", account.end_others, methods=["POST"]),
    Route("/account/password", account.password_form, methods=["GET"]),
    Route("/account/password", account.change_password, methods=["POST"]),
    Route("/static/{name}", signin.static, methods=["GET"]),
]

__all__ = ["is_page_path", "routes"]
