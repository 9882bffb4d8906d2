"""Domain errors to HTTP answers. The domain knows nothing of status codes; this table does."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sessionward.core.assurance import challenge
from sessionward.crypto.dpop import DPOP_ALGORITHMS
from sessionward.errors import (
    InsufficientAuthentication,
    InvalidClient,
    InvalidDpopProof,
    InvalidToken,
    MfaRequired,
    SessionwardError,
    TooManyAttempts,
)

log = logging.getLogger("sessionward")

STATUS = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_credentials": 401,
    "invalid_grant": 401,
    "invalid_token": 401,
    "invalid_dpop_proof": 401,  # 400 at the token endpoints (RFC 9449 sections 5 and 7.1)
    "use_dpop_nonce": 401,
    "mfa_required": 401,
    "invalid_mfa": 401,
    "insufficient_user_authentication": 401,
    "mfa_enrollment_required": 403,
    "invalid_current_password": 403,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "session_limit": 409,
    "unsupported_media_type": 415,
    "too_many_attempts": 429,
    "not_ready": 503,
    "temporarily_unavailable": 503,
}


def error_response(
    code: str,
    description: str,
    status: int,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> Response:
    return JSONResponse(
        {"error": code, "error_description": description, **(extra or {})},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def on_domain_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SessionwardError)
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidToken):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(exc, InvalidClient):
        headers["WWW-Authenticate"] = 'Basic realm="sessionward"'
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    status = STATUS.get(exc.code, 400)
    if isinstance(exc, InvalidDpopProof):
        nonce = getattr(exc, "nonce", None)
        if nonce is not None:
            headers["DPoP-Nonce"] = nonce
        if exc.at_token_endpoint:
            status = 400
        else:
            headers["WWW-Authenticate"] = f'DPoP error="{exc.code}", algs="{" ".join(DPOP_ALGORITHMS)}"'
    extra: dict[str, object] = {}
    if isinstance(exc, InsufficientAuthentication):
        headers["WWW-Authenticate"] = challenge(exc.acr_values, exc.max_age)[1]
    if isinstance(exc, MfaRequired):
        extra = {"mfa_token": exc.mfa_token, "methods": list(exc.methods), "expires_in": exc.expires_in}
    return error_response(exc.code, exc.description, status, headers, extra)


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
        exc.status_code, "invalid_request"
    )
    return error_response(code, str(exc.detail), exc.status_code, dict(exc.headers or {}))


async def on_infrastructure_error(_request: Request, exc: Exception) -> Response:
    """The database or Redis is unreachable: 503, never a 500, and never an answer given without them."""
    log.warning("a store is unavailable: %s", type(exc).__name__)
    return error_response(
        "temporarily_unavailable", "a backing store is unavailable; try again shortly", 503, {"Retry-After": "1"}
    )


def infrastructure_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    # Integrity conflicts are caught in the store and become domain errors; whatever else the database layer
    # raises (lost connections, a connection awaiting rollback after one, pool timeouts) means "unavailable".
    found: list[type[Exception]] = [SQLAlchemyError, ConnectionError, TimeoutError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
    except ImportError:  # Redis is optional until a redis_url is configured
        pass
    else:
        found += [RedisConnectionError, RedisTimeout]
    return tuple(found)
