"""Discovery, JWKS, OpenAPI and health."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionward.crypto.dpop import DPOP_ALGORITHMS
from sessionward.crypto.jwt import ACCESS_TOKEN_CLAIMS
from sessionward.errors import NotReady
from sessionward.http.context import services
from sessionward.http.openapi import openapi_document
from sessionward.http.routes.oauth import INTROSPECT_PATH, REVOKE_PATH
from sessionward.services.auth import ACR_MFA, ACR_PASSWORD
from sessionward.services.keyring import ordered_jwks

JWKS_PATH = "/.well-known/jwks.json"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
AUTHORIZATION_SERVER_PATH = "/.well-known/oauth-authorization-server"
# How a client authenticates at revocation and introspection (http/routes/oauth.py): keep the two in step.
CLIENT_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")


def server_metadata(issuer: str) -> dict[str, object]:
    """Authorization server metadata (RFC 8414) for what this service does today, and nothing it does not.

    There is no authorization endpoint, no RFC 6749 token endpoint and no ID token yet (SPEC 7 brings them). So
    `grant_types_supported` is [] (if absent, RFC 8414 would read it as authorization_code and implicit), the one
    response type is "none" (nothing is issued through an authorization endpoint), and `token_endpoint` and
    `id_token_signing_alg_values_supported` are left out rather than name what does not exist: a validator that
    requires them (Authlib's does) refuses exactly those two. Sign-in and refresh are the JSON API that
    `service_documentation` describes.
    """
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}{JWKS_PATH}",
        "revocation_endpoint": f"{issuer}{REVOKE_PATH}",
        "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "introspection_endpoint": f"{issuer}{INTROSPECT_PATH}",
        "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
        "response_types_supported": ["none"],
        "grant_types_supported": [],
        "subject_types_supported": ["public"],
        "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
        "claims_supported": list(ACCESS_TOKEN_CLAIMS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        "service_documentation": f"{issuer}/openapi.json",
    }


async def discovery(request: Request) -> Response:
    """The same document at the RFC 8414 and the OpenID Connect Discovery locations."""
    return JSONResponse(
        server_metadata(services(request).settings.server.issuer_url),
        headers={"Cache-Control": "public, max-age=300"},
    )


async def jwks(request: Request) -> Response:
    svc = services(request)
    document = ordered_jwks(svc.keyring.current(), svc.clock.now(), svc.settings.tokens.algorithm)
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(services(request).settings.server.issuer_url))


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when every backing store answers, a signing key is loaded and the revocation state is current."""
    svc = services(request)
    try:
        await svc.ping()
    except Exception as exc:  # any store failure means not ready; the reason stays in the logs
        raise NotReady("a backing store is not reachable") from exc
    try:
        svc.keyring.current().active(svc.settings.tokens.algorithm)
    except KeyError:
        raise NotReady("no active signing key") from None
    if not svc.revocations.in_sync():
        raise NotReady("the revocation state is not in sync with the store")
    return JSONResponse({"status": "ready"})


routes = [
    Route(OPENID_CONFIGURATION_PATH, discovery, methods=["GET"]),
    Route(AUTHORIZATION_SERVER_PATH, discovery, methods=["GET"]),
    Route(JWKS_PATH, jwks, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
