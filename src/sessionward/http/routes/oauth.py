"""RFC 7009 token revocation and RFC 7662 introspection, for clients with a secret (HTTP Basic)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.errors import InvalidRequest
from sessionward.http.body import capped_body
from sessionward.http.context import client_ip, services

REVOKE_PATH = "/v1/oauth/revoke"
INTROSPECT_PATH = "/v1/oauth/introspect"


async def form_token(request: Request) -> str:
    raw = await capped_body(request, "application/x-www-form-urlencoded")
    try:
        # A percent-encoded value that is not UTF-8 is refused, not silently replaced by U+FFFD.
        form = parse_qs(raw.decode("ascii"), strict_parsing=False, max_num_fields=16, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid form") from None
    tokens = form.get("token", [])
    if len(tokens) != 1 or not tokens[0] or len(tokens[0]) > 8192:
        raise InvalidRequest("exactly one 'token' is required")
    return tokens[0]


async def _client(request: Request) -> str:
    svc = services(request)
    return await svc.clients.authenticate(request.headers.get("authorization"), client_ip(request))


async def revoke(request: Request) -> Response:
    client_id = await _client(request)
    token = await form_token(request)
    await services(request).clients.revoke(client_id, token)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


async def introspect(request: Request) -> Response:
    await _client(request)
    token = await form_token(request)
    return JSONResponse(await services(request).clients.introspect(token), headers={"Cache-Control": "no-store"})


routes = [
    Route(REVOKE_PATH, revoke, methods=["POST"]),
    Route(INTROSPECT_PATH, introspect, methods=["POST"]),
]
