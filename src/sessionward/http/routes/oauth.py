"""RFC 7009 token revocation and RFC 7662 introspection, for clients with a secret (client_secret_basic or
client_secret_post)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.errors import InvalidRequest
from sessionward.http.body import capped_body
from sessionward.http.context import client_ip, services

REVOKE_PATH = "/v1/oauth/revoke"
INTROSPECT_PATH = "/v1/oauth/introspect"
MAX_TOKEN = 8192
MAX_CLIENT_FIELD = 1024


@dataclass(frozen=True, slots=True)
class TokenForm:
    token: str
    client_id: str | None
    client_secret: str | None


async def token_form(request: Request) -> TokenForm:
    raw = await capped_body(request, "application/x-www-form-urlencoded")
    try:
        # A percent-encoded value that is not UTF-8 is refused, not silently replaced by U+FFFD.
        form = parse_qs(raw.decode("ascii"), strict_parsing=False, max_num_fields=16, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid form") from None
    tokens = form.get("token", [])
    if len(tokens) != 1 or not tokens[0] or len(tokens[0]) > MAX_TOKEN:
        raise InvalidRequest("exactly one 'token' is required")
    return TokenForm(tokens[0], _at_most_one(form, "client_id"), _at_most_one(form, "client_secret"))


def _at_most_one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1 or any(len(v) > MAX_CLIENT_FIELD for v in values):
        raise InvalidRequest(f"'{name}' may be given once, with at most {MAX_CLIENT_FIELD} characters")
    return values[0] if values else None


async def _client(request: Request, form: TokenForm) -> str:
    svc = services(request)
    authorization = request.headers.get("authorization")
    return await svc.clients.authenticate(authorization, client_ip(request), form.client_id, form.client_secret)


async def revoke(request: Request) -> Response:
    form = await token_form(request)
    client_id = await _client(request, form)
    await services(request).clients.revoke(client_id, form.token)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


async def introspect(request: Request) -> Response:
    form = await token_form(request)
    client_id = await _client(request, form)
    answer = await services(request).clients.introspect(client_id, form.token)
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


routes = [
    Route(REVOKE_PATH, revoke, methods=["POST"]),
    Route(INTROSPECT_PATH, introspect, methods=["POST"]),
]
