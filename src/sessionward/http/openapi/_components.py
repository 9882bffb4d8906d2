"""The components of the OpenAPI document: schemas, headers and shared answers."""

from __future__ import annotations

from typing import Any

from sessionward.http.openapi._mfa import MFA_SCHEMAS
from sessionward.http.openapi._parts import (
    _AMR,
    _BOOL,
    _INT,
    _OPTIONAL_STR,
    _STRINGS,
    _TIME,
    _USERNAME,
    Schema,
    _error,
    _obj,
    _ref,
    _str,
    _strs,
)

_SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _str(), "error_description": _str()}, closed=True),
    "Session": _obj(
        {
            "session_id": _str(),
            "access_token": _str(description="A JWT (RFC 9068), typ at+jwt"),
            "token_type": _str(enum=["Bearer", "DPoP"], description="DPoP: bound to the key of the sign-in proof"),
            "expires_in": _INT,
            "refresh_token": _str(description="Opaque; rotated on every refresh"),
            "refresh_expires_in": _INT,
            "acr": _str(),
            "amr": _AMR,
        },
        closed=True,
    ),
    "Login": _obj(
        {
            "username": _str(1, 64),
            "password": _str(1, 1024),
            "client_id": {**_OPTIONAL_STR, "maxLength": 64, "default": "web"},
            "revoke_other_sessions": {**_BOOL, "default": False},
            "transport": {
                **_OPTIONAL_STR,
                "enum": ["token", "cookie", None],
                "default": "token",
                "description": '"cookie": the tokens go into __Host- cookies and the answer is a CookieSession',
            },
        },
        ["username", "password"],
    ),
    # -- cookie transport (SPEC 5): the tokens travel in cookies, the body carries the session's CSRF token
    "CookieSession": _obj(
        {
            "session_id": _str(),
            "csrf_token": _str(
                description="Send it in X-CSRF-Token, with a same-origin Origin, on every state-changing request "
                "authenticated by the cookie; it lasts as long as the session"
            ),
            "expires_in": _INT,
            "acr": _str(),
            "amr": _AMR,
        },
        closed=True,
    ),
    "AnySession": {"oneOf": [_ref("schemas", "Session"), _ref("schemas", "CookieSession")]},
    # -- end of cookie transport
    # Token transport sends refresh_token; cookie transport may send {} (or no body) and the cookie.
    # A confidential client (one with a secret) authenticates: HTTP Basic, or client_id and client_secret here.
    "Refresh": _obj(
        {"refresh_token": _str(max_len=8192), "client_id": _str(max_len=1024), "client_secret": _str(max_len=1024)},
        [],
    ),
    "Me": _obj(
        {**_strs("sub", "username", "session_id", "client_id", "acr"), "amr": _AMR, "auth_time": _TIME}, closed=True
    ),
    "SessionInfo": _obj(
        {
            **_strs("session_id", "ip", "user_agent", "acr"),
            **{when: _TIME for when in ("created_at", "last_active_at", "expires_at")},
            "current": _BOOL,
            "amr": _AMR,
        },
        closed=True,
    ),
    "SessionList": _obj({"sessions": {"type": "array", "items": _ref("schemas", "SessionInfo")}}, closed=True),
    "PasswordChange": _obj(
        {"current_password": _str(max_len=1024), "new_password": _str(8, 1024, description="8 to 1024 characters")}
    ),
    "NewUser": _obj(
        {"username": _USERNAME, "password": _str(8, 1024), "admin": {**_BOOL, "default": False}},
        ["username", "password"],
    ),
    "User": _obj({"user_id": _str(), "username": _str(), "admin": _BOOL, "created_at": _TIME}, closed=True),
    "TokenForm": _obj(
        {
            "token": _str(1, 8192, description="An access token or a refresh token; given exactly once"),
            "token_type_hint": _str(description="Accepted and not needed: the token's form tells its type"),
            "client_id": _str(max_len=1024, description="client_secret_post (with client_secret), or with Basic"),
            "client_secret": _str(max_len=1024, description="client_secret_post; never together with Basic"),
        },
        ["token"],
    ),
    "Introspection": {
        "oneOf": [
            _obj({"active": {"const": False}}, closed=True),
            {
                **_obj(
                    {
                        "active": {"const": True},
                        "token_type": _str(enum=["Bearer", "DPoP"], description="Access tokens only"),
                        **_strs("sub", "sid", "client_id", "iss", "aud", "jti", "acr", "username"),
                        **{claim: _INT for claim in ("iat", "exp", "nbf", "auth_time")},
                        "amr": _AMR,
                    },
                    ["active", "sub", "sid", "client_id", "iat", "exp"],
                ),
                "description": "An access token answers its claims, token_type and username; a refresh token fewer "
                "members and no token_type. Another client's token is not active unless the caller has introspect_any",
            },
        ]
    },
    "Jwk": _obj(
        {
            "kty": _str(enum=["EC", "RSA"]),
            "kid": _str(),
            "alg": _str(enum=["ES256", "RS256"]),
            "use": _str(enum=["sig"]),
            "crv": _str(enum=["P-256"]),
            **_strs("x", "y", "n", "e"),
        },
        ["kty", "kid", "alg", "use"],
        closed=True,
    ),
    "Jwks": _obj({"keys": {"type": "array", "items": _ref("schemas", "Jwk")}}, closed=True),
    "Discovery": _obj(
        {
            **_strs("issuer", "jwks_uri", "revocation_endpoint", "introspection_endpoint", "service_documentation"),
            "revocation_endpoint_auth_methods_supported": _STRINGS,
            "introspection_endpoint_auth_methods_supported": _STRINGS,
            "response_types_supported": {
                **_STRINGS,
                "description": '["none"]: no authorization endpoint yet, nothing is issued through one',
            },
            "grant_types_supported": {
                **_STRINGS,
                "description": "[]: no RFC 6749 token endpoint yet; sign-in and refresh are this API's own",
            },
            "subject_types_supported": _STRINGS,
            "acr_values_supported": _STRINGS,
            "claims_supported": {**_STRINGS, "description": "The claims of an access token"},
            "dpop_signing_alg_values_supported": {
                **_STRINGS,
                "description": "The algorithms a DPoP proof may be signed with",
            },
        },
        closed=True,
    ),
    "Status": _obj({"status": _str(enum=["ok", "ready"])}, closed=True),
    "OpenApi": _obj({"openapi": _str(), "info": {"type": "object"}, "paths": {"type": "object"}}),
}
_SCHEMAS.update(MFA_SCHEMAS)

_HEADERS: dict[str, Schema] = {
    "NoStore": {"description": "Token-bearing and API answers are never cached", "schema": _str(enum=["no-store"])},
    "BearerChallenge": {
        "description": 'Bearer error="invalid_token"; for a DPoP-bound token presented with the DPoP scheme and a '
        'bad or missing proof, DPoP error="invalid_dpop_proof" or DPoP error="use_dpop_nonce" (RFC 9449 7.1)',
        "schema": {
            "oneOf": [
                _str(enum=['Bearer error="invalid_token"']),
                _str(pattern='^DPoP error="(invalid_dpop_proof|use_dpop_nonce)"'),
            ]
        },
        "required": True,
    },
    "MaybeBearerChallenge": {
        "description": "With invalid_token or insufficient_user_authentication (as BearerOrStepUpChallenge); "
        "absent with the other codes",
        "schema": {
            "oneOf": [
                _str(enum=['Bearer error="invalid_token"']),
                _str(pattern='^Bearer error="insufficient_user_authentication", error_description="[^"]*"'),
            ]
        },
    },
    "DpopNonce": {
        "description": "The nonce to put in the next DPoP proofs (with the error use_dpop_nonce)",
        "schema": _str(),
    },
    "BasicChallenge": {"schema": _str(enum=['Basic realm="sessionward"']), "required": True},
    "BearerOrStepUpChallenge": {
        "description": "invalid_token, or the RFC 9470 challenge naming acr_values and max_age the operation needs",
        "schema": {
            "oneOf": [
                _str(enum=['Bearer error="invalid_token"']),
                _str(pattern='^Bearer error="insufficient_user_authentication", error_description="[^"]*"'),
            ]
        },
        "required": True,
    },
    "RetryAfter": {"description": "Seconds to wait", "schema": _str(pattern="^[0-9]+$"), "required": True},
    "Allow": {"description": "The methods this path serves", "schema": _str(), "required": True},
    "SetCookie": {
        "description": "Cookie transport: __Host-sw-access (the access token, Max-Age its lifetime) and "
        "__Host-sw-refresh (the refresh token, Max-Age the absolute timeout); HttpOnly; Secure; SameSite=Strict; "
        "Path=/; no Domain. A logout expires both (Max-Age=0)",
        "schema": _str(),
    },
    "ClearSiteData": {"description": "On logout", "schema": _str(enum=['"cache", "cookies", "storage"'])},
}


_RESPONSES: dict[str, dict[str, Any]] = {
    "InvalidRequest": _error("The request is malformed or a field is missing, mistyped or too long", "invalid_request"),
    "InvalidToken": _error(
        "The access token is missing, invalid, expired or revoked; or, for a DPoP-bound token, the DPoP proof is "
        "missing, invalid, replayed, by another key, or lacks the server's nonce",
        "invalid_token",
        "invalid_dpop_proof",
        "use_dpop_nonce",
        WWW_Authenticate="BearerChallenge",
        DPoP_Nonce="DpopNonce",
    ),
    "InvalidClient": _error(
        "Client authentication (HTTP Basic or client_secret_post, a client with a secret) failed",
        "invalid_client",
        WWW_Authenticate="BasicChallenge",
    ),
    "NotAdmin": _error("The caller is not an administrator", "forbidden"),
    "InvalidTokenOrStepUp": _error(
        "The access token is missing, invalid, expired or revoked; or (insufficient_user_authentication) the "
        "session lacks a second factor checked recently enough: step up (POST /v1/sessions/step-up) and retry",
        "invalid_token",
        "insufficient_user_authentication",
        WWW_Authenticate="BearerOrStepUpChallenge",
    ),
    "CsrfRejected": _error(
        "Cookie transport: a state-changing request without the session's X-CSRF-Token or a same-origin Origin "
        "(or Sec-Fetch-Site: same-origin)",
        "forbidden",
    ),
    "MethodNotAllowed": _error("This path does not serve the request's method", "method_not_allowed", Allow="Allow"),
    "UnsupportedMediaType": _error("The body is not of the required media type", "unsupported_media_type"),
}
