"""Who is calling: the Principal the middleware puts in the ASGI scope, and the helpers routes read it with."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from sessionward.core.assurance import acr_satisfies, challenge
from sessionward.crypto.jwt import AccessClaims

SCOPE_KEY: Final = "sessionward.principal"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified, unrevoked caller of one request."""

    sub: str
    sid: str = field(repr=False)  # a session id is kept out of logs
    client_id: str
    acr: str
    amr: tuple[str, ...]
    auth_time: int  # seconds since the epoch
    scopes: tuple[str, ...] = ()
    # Every claim of the access token, read-only.
    claims: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_claims(cls, claims: AccessClaims) -> Principal:
        scope = claims.raw.get("scope")
        scopes = tuple(scope.split()) if type(scope) is str else ()
        return cls(
            claims.sub, claims.sid, claims.client_id, claims.acr, claims.amr, claims.auth_time, scopes, claims.raw
        )


def get_principal(conn: HTTPConnection) -> Principal:
    """The principal of a request (or websocket) that went through SessionwardAuth.

    A FastAPI dependency as it is (`Depends(get_principal)`). LookupError on an exempt path or an unprotected
    app: that is a wiring mistake, not a client error.
    """
    principal = conn.scope.get(SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise LookupError("no sessionward principal: this path is exempt or the app is not behind SessionwardAuth")
    return principal


class InsufficientUserAuthentication(HTTPException):
    """401 with the RFC 9470 step-up challenge: the session lacks the assurance (acr) or freshness (max_age).

    Starlette and FastAPI answer it with its status and WWW-Authenticate header as they answer any HTTPException
    (their own body); `response()` builds the sessionward error body for an app that registers it as a handler.
    """

    def __init__(self, acr: str | None, max_age: int | None) -> None:
        description, header = challenge(acr, max_age)
        super().__init__(401, description, {"WWW-Authenticate": header, "Cache-Control": "no-store"})
        self.acr = acr
        self.max_age = max_age

    def response(self) -> JSONResponse:
        body = {"error": "insufficient_user_authentication", "error_description": self.detail}
        return JSONResponse(body, status_code=401, headers=self.headers)


async def on_insufficient_user_authentication(_conn: Any, exc: Exception) -> JSONResponse:
    """An exception handler for Starlette/FastAPI apps that want the sessionward error body."""
    assert isinstance(exc, InsufficientUserAuthentication)
    return exc.response()


def require(
    acr: str | None = None, max_age: float | None = None, *, clock: Callable[[], float] = time.time
) -> Callable[[HTTPConnection], Principal]:
    """A check (and FastAPI dependency) returning the principal when its session meets `acr` (sessionward's
    levels by rank, so loa:2 meets loa:1; any other value exactly) and authenticated no more than `max_age`
    seconds ago; InsufficientUserAuthentication otherwise.

        principal = require(acr="urn:example:mfa", max_age=300)(request)
    """
    if max_age is not None and not (max_age >= 0):
        raise ValueError("max_age must be a number >= 0")
    challenge_age = None if max_age is None else int(max_age)

    def check(conn: HTTPConnection) -> Principal:
        principal = get_principal(conn)
        if (acr is not None and not acr_satisfies(principal.acr, acr)) or (
            max_age is not None and not clock() - principal.auth_time <= max_age
        ):
            raise InsufficientUserAuthentication(acr, challenge_age)
        return principal

    return check
