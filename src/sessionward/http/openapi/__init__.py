"""The OpenAPI 3.1 document of the HTTP API, written by hand so it says exactly what the code does.

Every route of the app is here with the statuses its handler can answer. Error bodies name their possible codes
(see http/errors.py for the status of each code). Request objects accept and ignore fields they do not name.
"""

from __future__ import annotations

import copy
from typing import Any

from sessionward.http.openapi._components import _HEADERS, _RESPONSES, _SCHEMAS
from sessionward.http.openapi._mfa import mfa_paths
from sessionward.http.openapi._parts import (
    _DPOP_PARAMETER,
    DPOP_HEADER,
    _body,
    _error,
    _json,
    _oauth,
    _ok,
    _op,
    _path_param,
    _ref,
    _status,
    _str,
)

__all__ = ["openapi_document"]


def _paths() -> dict[str, Any]:
    r400 = _ref("responses", "InvalidRequest")
    r415 = _ref("responses", "UnsupportedMediaType")
    r401 = _ref("responses", "InvalidToken")
    r401_step_up = _ref("responses", "InvalidTokenOrStepUp")
    r429 = _error("Too many wrong second factors for this account", "too_many_attempts", Retry_After="RetryAfter")
    r403_admin = _ref("responses", "NotAdmin")
    r403_csrf = _ref("responses", "CsrfRejected")
    any_session = {
        "description": "A session: tokens in the body (token transport), or in cookies with the CSRF token in the "
        "body (cookie transport)",
        **_json(_ref("schemas", "AnySession")),
        "headers": {"Cache-Control": _ref("headers", "NoStore"), "Set-Cookie": _ref("headers", "SetCookie")},
    }
    ended = {
        "description": "Ended. A cookie-transport caller's cookies are expired",
        "headers": {"Set-Cookie": _ref("headers", "SetCookie")},
    }
    return {
        "/v1/sessions": {
            "post": _op(
                "createSession",
                "Log in: create a session",
                _status(
                    s201=any_session,
                    s400=_error(
                        "Malformed body, empty fields, unknown client_id or transport (or a DPoP proof with the cookie "
                        "transport); a bad or replayed DPoP proof; a proof without the server's nonce (DPoP-Nonce)",
                        "invalid_request",
                        "invalid_dpop_proof",
                        "use_dpop_nonce",
                        DPoP_Nonce="DpopNonce",
                    ),
                    s401={
                        "description": "Wrong username or password (the same for an unknown user); or "
                        "mfa_required: the password was right and a second factor must follow (POST /v1/sessions/mfa)",
                        **_json(
                            {
                                "oneOf": [
                                    _error("", "invalid_credentials")["content"]["application/json"]["schema"],
                                    _ref("schemas", "MfaRequired"),
                                ]
                            }
                        ),
                        "headers": {"Cache-Control": _ref("headers", "NoStore")},
                    },
                    s403=_error(
                        "The client's policy requires a second factor and the user has none enrolled",
                        "mfa_enrollment_required",
                    ),
                    s409=_error("A session limit is reached (on_session_limit = reject)", "session_limit", "conflict"),
                    s415=r415,
                    s429=_error("Too many attempts", "too_many_attempts", Retry_After="RetryAfter"),
                ),
                requestBody=_body("Login"),
                parameters=[_DPOP_PARAMETER],
            ),
            "get": _op(
                "listSessions",
                "The caller's live sessions",
                _status(s200=_ok("The sessions", "SessionList", no_store=True), s401=r401),
                auth="bearer",
            ),
            "delete": _op(
                "endSessions",
                "End the caller's other sessions, or all of them",
                _status(
                    s204=ended,
                    s400=_error("'scope' is not others or all", "invalid_request"),
                    s401=r401,
                    s403=r403_csrf,
                ),
                auth="bearer",
                parameters=[{"name": "scope", "in": "query", "required": True, "schema": _str(enum=["others", "all"])}],
            ),
        },
        "/v1/sessions/refresh": {
            "post": _op(
                "refreshSession",
                "Rotate a refresh token: new tokens for the same session. In cookie transport: no body (or one "
                "without refresh_token), the __Host-sw-refresh cookie, X-CSRF-Token and a same-origin Origin (public "
                "clients only). A confidential client (one with a secret) authenticates: Basic or client_secret_post",
                _status(
                    s200=any_session,
                    s400=_error(
                        "Malformed body; a bad or replayed DPoP proof; a proof without the server's nonce",
                        "invalid_request",
                        "invalid_dpop_proof",
                        "use_dpop_nonce",
                        DPoP_Nonce="DpopNonce",
                    ),
                    s401=_error(
                        "The refresh token is invalid, expired, revoked or reused, or it is DPoP-bound and the proof "
                        "is missing or by another key, or issued to another client (invalid_grant); the session's "
                        "client has a secret and the request did not authenticate it (invalid_client: HTTP Basic, "
                        "or client_id and client_secret in the body)",
                        "invalid_grant",
                        "invalid_client",
                    ),
                    s403=r403_csrf,
                    s415=r415,
                    s429=_error(
                        "Too many failed client authentications", "too_many_attempts", Retry_After="RetryAfter"
                    ),
                ),
                requestBody=_body("Refresh"),
                parameters=[_DPOP_PARAMETER],
            )
        },
        "/v1/sessions/current": {
            "delete": _op(
                "logout",
                "Log out: end the current session",
                _status(
                    s204={
                        "description": "Ended; the browser is told to forget the session",
                        "headers": {
                            "Clear-Site-Data": _ref("headers", "ClearSiteData"),
                            "Set-Cookie": _ref("headers", "SetCookie"),
                        },
                    },
                    s401=r401,
                    s403=r403_csrf,
                ),
                auth="bearer",
            )
        },
        "/v1/sessions/{session_id}": {
            "delete": _op(
                "endSession",
                "End one of the caller's sessions",
                _status(
                    s204=ended,
                    s401=r401,
                    s403=r403_csrf,
                    s404=_error("No such session of the caller's", "not_found"),
                ),
                auth="bearer",
                parameters=[_path_param("session_id", "A session id of the caller's")],
            )
        },
        "/v1/me": {
            "get": _op(
                "getMe",
                "The caller's identity",
                _status(s200=_ok("The caller", "Me", no_store=True), s401=r401),
                auth="bearer",
            )
        },
        "/v1/password": {
            "post": _op(
                "changePassword",
                "Change the password: every earlier token dies, a fresh session is returned",
                _status(
                    s200=any_session,
                    s400=_error("Malformed body, a bad new password, or the same one again", "invalid_request"),
                    s401=r401_step_up,
                    s403=_error(
                        "The current password is wrong, or (cookie transport) the CSRF proof is missing",
                        "invalid_current_password",
                        "forbidden",
                    ),
                    s415=r415,
                    s429=_error(
                        "Too many wrong passwords for this account (the windows login uses)",
                        "too_many_attempts",
                        Retry_After="RetryAfter",
                    ),
                ),
                auth="bearer",
                requestBody=_body("PasswordChange"),
            )
        },
        "/v1/admin/users": {
            "post": _op(
                "createUser",
                "Create a user (administrators only)",
                _status(
                    s201=_ok("The user", "User", no_store=True),
                    s400=_error("Malformed body, a bad username or password", "invalid_request"),
                    s401=r401_step_up,
                    s403=r403_admin,
                    s409=_error("The username is taken", "conflict"),
                    s415=r415,
                ),
                auth="bearer",
                requestBody=_body("NewUser"),
            )
        },
        "/v1/admin/users/{username}/sessions": {
            "delete": _op(
                "endUserSessions",
                "End every session of a user (administrators only)",
                _status(
                    s204=_ok("Ended"), s401=r401_step_up, s403=r403_admin, s404=_error("No such user", "not_found")
                ),
                auth="bearer",
                parameters=[_path_param("username", "The user's name")],
            )
        },
        **mfa_paths(any_session, r400, r401_step_up, r403_csrf, r415, r429),
        "/v1/oauth/revoke": {
            "post": _oauth(
                "revokeToken", "RFC 7009 revocation: ends the token's session", _ok("Done, also for an unknown token")
            )
        },
        "/v1/oauth/introspect": {
            "post": _oauth(
                "introspectToken", "RFC 7662 introspection", _ok("The token's state", "Introspection", no_store=True)
            )
        },
        "/v1/revocations/stream": {
            "get": _op(
                "streamRevocations",
                "The revocation feed for relying applications (Server-Sent Events)",
                _status(
                    s200={
                        "description": (
                            "An endless text/event-stream. Each ended session or moved user epoch is an event "
                            '`id: <seq>`, `event: revocation`, `data:` {"kind": "sid", "sid", "until"} '
                            "(reject the session's tokens until `until`, seconds since the epoch) or "
                            '{"kind": "epoch", "sub", "epoch"} (reject the user\'s tokens with iat < epoch). '
                            "A `: ping` comment follows a successful read of the store at least every 250 ms; "
                            "the first one ends the backlog. Without Last-Event-ID the backlog is every entry that "
                            "still matters; with it, the entries after that id"
                        ),
                        "content": {"text/event-stream": {"schema": _str()}},
                        "headers": {"Cache-Control": _ref("headers", "NoStore")},
                    },
                    s401=_ref("responses", "InvalidClient"),
                    s429=_error(
                        "Too many failed client authentications", "too_many_attempts", Retry_After="RetryAfter"
                    ),
                ),
                auth="basic",
                parameters=[
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": _str(pattern="^[0-9]{1,19}$"),
                        "description": "Resume after this event id; a missing or unusable id resends all that matters",
                    }
                ],
            )
        },
        "/.well-known/openid-configuration": {
            "get": _op(
                "getOpenIdConfiguration",
                "Discovery (OpenID Connect Discovery 1.0 location): the same metadata as "
                "/.well-known/oauth-authorization-server",
                _status(s200=_ok("Metadata", "Discovery")),
            )
        },
        "/.well-known/oauth-authorization-server": {
            "get": _op(
                "getAuthorizationServerMetadata",
                "Discovery (RFC 8414 location): what this service does today, exactly",
                _status(s200=_ok("Metadata", "Discovery")),
            )
        },
        "/.well-known/jwks.json": {"get": _op("getJwks", "Public signing keys", _status(s200=_ok("The keys", "Jwks")))},
        "/openapi.json": {
            "get": _op("getOpenApiDocument", "This document", _status(s200=_ok("OpenAPI 3.1", "OpenApi")))
        },
        "/healthz": {"get": _op("getHealth", "Alive", _status(s200=_ok("Alive", "Status")))},
        "/readyz": {
            "get": _op(
                "getReadiness",
                "Ready: the store answers and a signing key is active",
                _status(s200=_ok("Ready", "Status"), s503=_error("Not ready", "not_ready")),
            )
        },
    }


def openapi_document(issuer: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionward",
            "version": "0.1.0",
            "description": "Every GET also answers HEAD. Errors are {error, error_description} with no-store.",
        },
        "servers": [{"url": issuer}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "dpop": {
                    "type": "http",
                    "scheme": "DPoP",
                    "description": "A DPoP-bound access token (RFC 9449; a JWT, RFC 9068), `Authorization: DPoP "
                    "<token>`, with a DPoP proof header (the Dpop parameter) for each request",
                },
                "basic": {"type": "http", "scheme": "basic", "description": "A client id and its client_secret"},
                "cookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-sw-access",
                    "description": "Cookie transport (login with transport cookie). Used only without an "
                    "Authorization header; state-changing requests also need X-CSRF-Token and a same-origin Origin",
                },
            },
            "parameters": {"Dpop": copy.deepcopy(DPOP_HEADER)},
            "schemas": copy.deepcopy(_SCHEMAS),
            "headers": copy.deepcopy(_HEADERS),
            "responses": copy.deepcopy(_RESPONSES),
        },
        "paths": _paths(),
    }
