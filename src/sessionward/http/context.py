"""How routes reach the services: through the app state set at start-up, never a global."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from sessionward.crypto.jwt import AccessClaims
from sessionward.errors import InvalidDpopProof
from sessionward.http import csrf
from sessionward.http.cookies import access_cookie, authenticated_by_cookie
from sessionward.services.container import Services
from sessionward.services.dpop import DpopRequest


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def principal(request: Request) -> AccessClaims:
    svc = services(request)
    # -- cookie transport (SPEC 5): the access cookie when there is no Authorization header; a state-changing
    # request must also prove it comes from our own pages (http/csrf.py), or it is refused with 403.
    if authenticated_by_cookie(request):
        now = svc.clock.now()
        claims = await svc.tokens.authenticate(f"Bearer {access_cookie(request)}", now, client_ip(request))
        if request.method not in csrf.SAFE_METHODS:
            session = await svc.store.get_session(claims.sid)
            given = request.headers.get(csrf.CSRF_HEADER)
            await csrf.check(svc.tokens.refusals, request, svc.settings.server.issuer_url, session, given, now)
        return claims
    # -- end of cookie transport
    authorization = request.headers.get("authorization")
    # The DPoP view of the request is built only for a DPoP-scheme token: the bearer path is the hot one.
    dpop = dpop_request(request) if authorization and authorization[:5].lower() == "dpop " else None
    return await svc.tokens.authenticate(authorization, svc.clock.now(), client_ip(request), dpop)


def dpop_request(request: Request) -> DpopRequest:
    """The request's `DPoP` proofs and its method and URL as the issuer names it (RFC 9449 section 4.3: htu
    is compared without query and fragment; the issuer, not the Host header, names the server)."""
    url = services(request).settings.server.issuer_url + request.url.path
    return DpopRequest(tuple(request.headers.getlist("dpop")), request.method, url, client_ip(request))


async def token_endpoint_dpop(request: Request) -> str | None:
    """The key thumbprint of the valid DPoP proof sent to a sign-in or refresh endpoint; None without one."""
    found = dpop_request(request)
    svc = services(request)
    if not found.proofs:
        return None
    if svc.dpop is None:  # never accept a proof unchecked, nor issue bearer tokens to a client that asked for DPoP
        raise InvalidDpopProof("dpop_unavailable", at_token_endpoint=True)
    proof = await svc.dpop.check(found, svc.clock.now(), at_token_endpoint=True)
    return proof.jkt


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
