"""Discovery, JWKS, OpenAPI and health."""

from __future__ import annotations

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

JWKS_PATH = "/.well-known/jwks.json"


async def openid_configuration(request: Request) -> Response:
    svc = services(request)
    issuer = svc.settings.server.issuer_url
    return JSONResponse(
        {
            "issuer": issuer,
            "jwks_uri": f"{issuer}{JWKS_PATH}",
            "revocation_endpoint": f"{issuer}{REVOKE_PATH}",
            "introspection_endpoint": f"{issuer}{INTROSPECT_PATH}",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "acr_values_supported": [ACR_PASSWORD, ACR_MFA],
            "claims_supported": list(ACCESS_TOKEN_CLAIMS),
            "subject_types_supported": ["public"],
            "response_types_supported": [],
            "service_documentation": f"{issuer}/openapi.json",
            "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


async def jwks(request: Request) -> Response:
    svc = services(request)
    return JSONResponse(svc.keyring.current().jwks(svc.clock.now()), headers={"Cache-Control": "public, max-age=60"})


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
    Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route(JWKS_PATH, jwks, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
]
