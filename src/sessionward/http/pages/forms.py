"""Reading the pages' form posts, and refusing those that may come from another site."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sessionward.errors import InvalidRequest
from sessionward.http import csrf
from sessionward.http.body import UnsupportedMediaType, capped_body, is_utf8_text
from sessionward.http.context import services
from sessionward.http.pages.html import render
from sessionward.http.pages.layout import icon, page
from sessionward.http.pages.session import NoSession, PageSession, resolve

FORM = "application/x-www-form-urlencoded"


class Form:
    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, max_len: int = 1024) -> str:
        values = self._fields.get(name, [])
        value = values[0] if len(values) == 1 else ""
        return value if len(value) <= max_len else ""

    def json_object(self, name: str, max_len: int = 16 * 1024) -> dict[str, Any] | None:
        """A field holding a JSON object (a security key's answer, as webauthn.js encodes it), or None."""
        try:
            value = json.loads(self.get(name, max_len) or "null")
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) and is_utf8_text(value) else None


async def read_form(request: Request) -> Form:
    """The form of a page post; a malformed or oversized one reads as empty, and the page says what is missing.
    A percent-encoded value that is not UTF-8 is malformed too (not silently replaced by U+FFFD)."""
    try:
        raw = await capped_body(request, FORM)
        return Form(parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=16, errors="strict"))
    except (InvalidRequest, UnsupportedMediaType, UnicodeDecodeError, ValueError):
        return Form({})


def refused_page() -> Response:
    body = render(
        """<section class="card card-narrow">
<div class="card-icon card-icon-error">{icon}</div>
<h1>This request was refused</h1>
<p class="lead">It did not come from this site's own pages, so nothing was changed. Someone may have tried to
act on your account from another website.</p>
<p class="lead">If you were trying to do something here, go back and try again from the page itself.</p>
<p><a class="btn btn-primary" href="/account/sessions">Back to your devices</a></p>
</section>""",
        icon=icon("warning"),
    )
    return page("Request refused", body, status=403, narrow=True)


async def refuse_other_origins(request: Request) -> Response | None:
    """The 403 page (audited) when the post does not come from our own origin; None when it does."""
    svc = services(request)
    reason = csrf.origin_refusal(request, svc.settings.server.issuer_url)
    if reason is None:
        return None
    await csrf.reject(svc.tokens.refusals, request, reason, None, svc.clock.now())
    return refused_page()


async def refuse_without_token(request: Request, form: Form, who: PageSession) -> Response | None:
    """The 403 page (audited) when the form lacks the session's CSRF token; None when it has it."""
    svc = services(request)
    reason = csrf.token_refusal(form.get(csrf.CSRF_FIELD, 256), who.session)
    if reason is None:
        return None
    await csrf.reject(svc.tokens.refusals, request, reason, who.session, svc.clock.now())
    return who.finish(request, refused_page())


async def acting(request: Request) -> tuple[PageSession, Form] | Response:
    """A post from our own pages by a signed-in session with its CSRF token, or the answer that refuses it."""
    refused = await refuse_other_origins(request)
    if refused is not None:
        return refused
    who = await resolve(request)
    if isinstance(who, NoSession):
        return who.to_signin()
    form = await read_form(request)
    refused = await refuse_without_token(request, form, who)
    if refused is not None:
        return refused
    return who, form
