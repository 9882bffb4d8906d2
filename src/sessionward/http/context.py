"""How routes reach the services: through the app state set at start-up, never a global."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from sessionward.crypto.jwt import AccessClaims
from sessionward.services.container import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def principal(request: Request) -> AccessClaims:
    svc = services(request)
    return await svc.tokens.authenticate(request.headers.get("authorization"), svc.clock.now(), client_ip(request))


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
