"""Response headers every answer carries: HSTS always; no caching anywhere a token may be."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_NO_STORE = (b"cache-control", b"no-store")
# -- the pages for people (http/pages/): no script at all, styles and images from 'self' only, forms post only
# to 'self', never framed. Their answers carry personal data and CSRF tokens: never cached.
_PAGE_CSP = (
    b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The pages with a security-key button (WebAuthn needs script) say so by carrying this policy themselves
# (layout.page(script=True)): the same, plus script files from 'self' only (the one is /static/webauthn.js; no
# inline script, no eval) and their requests to 'self' only. Trusted Types are required, with no policy allowed:
# no script of ours writes markup, so no string ever reaches a DOM sink. Any other policy a page response
# carries is replaced by the strict one.
SCRIPT_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; "
    "trusted-types 'none'"
)
_SCRIPT_PAGE_CSP = SCRIPT_PAGE_CSP.encode("ascii")
_CSP = b"content-security-policy"
_PAGE_HEADERS = [(b"cross-origin-opener-policy", b"same-origin")]


def _page_policy(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """The scripted policy when the page asked for exactly it; otherwise the strict one."""
    asked = [value for name, value in headers if name.lower() == _CSP]
    return (_CSP, _SCRIPT_PAGE_CSP if asked == [_SCRIPT_PAGE_CSP] else _PAGE_CSP)


def is_page_path(path: str) -> bool:
    return path == "/" or path.startswith(("/account/", "/static/"))


# -- end of page headers


class SecurityHeaders:
    """Pure ASGI middleware. API answers (/v1/) are never cacheable: any of them may carry a token. It wraps the
    whole application (app.SecuredStarlette), Starlette's own 500 for an unhandled exception included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = scope["path"].startswith("/v1/")
        is_page = is_page_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"strict-transport-security"]
                headers.extend(_ALWAYS)
                if no_store and not any(h[0].lower() == b"cache-control" for h in headers):
                    headers.append(_NO_STORE)
                if is_page:
                    policy = _page_policy(headers)
                    headers = [h for h in headers if h[0].lower() != _CSP]
                    headers.append(policy)
                    headers.extend(_PAGE_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
