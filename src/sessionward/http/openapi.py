"""The OpenAPI 3.1 document of the HTTP API, written by hand so it says exactly what the code does.

Every route of the app is here with the statuses its handler can answer. Error bodies name their possible codes
(see http/errors.py for the status of each code). Request objects accept and ignore fields they do not name.
"""

from __future__ import annotations

import copy
from typing import Any

Schema = dict[str, Any]

REF = "#/components"
# The size cap of every request body (http/body.py MAX_BODY_BYTES).
_BODY_CAP = "The body is at most 64 KiB; a larger one is 400 invalid_request."


# -- schema pieces -------------------------------------------------------------------------------------------------


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"{REF}/{kind}/{name}"}


def _str(min_len: int | None = None, max_len: int | None = None, **more: Any) -> Schema:
    schema: Schema = {"type": "string", **more}
    if min_len is not None:
        schema["minLength"] = min_len
    if max_len is not None:
        schema["maxLength"] = max_len
    return schema


def _obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = False) -> Schema:
    """An object; `closed` for answers that carry exactly these members, open for requests (extras are ignored)."""
    return {
        "type": "object",
        "required": required if required is not None else list(properties),
        "properties": properties,
        "additionalProperties": not closed,
    }


def _strs(*names: str) -> dict[str, Schema]:
    return {name: _str() for name in names}


_INT: Schema = {"type": "integer"}
_BOOL: Schema = {"type": "boolean"}
_TIME: Schema = _str(format="date-time", description="RFC 3339, UTC")
_AMR: Schema = {"type": "array", "items": _str()}
_STRINGS: Schema = {"type": "array", "items": _str()}
_OPTIONAL_STR = {"type": ["string", "null"]}  # null counts as absent

_USERNAME = _str(1, 64, pattern="^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")

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
    "Refresh": _obj({"refresh_token": _str(max_len=8192)}),
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
                        "token_type": _str(enum=["Bearer", "DPoP", "refresh_token"]),
                        **_strs("sub", "sid", "client_id", "iss", "aud", "jti", "acr", "username"),
                        **{claim: _INT for claim in ("iat", "exp", "nbf", "auth_time")},
                        "amr": _AMR,
                    },
                    ["active", "token_type", "sub", "sid", "client_id", "iat", "exp"],
                ),
                "description": "An access token answers its claims and username; a refresh token fewer members",
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
            **{
                f"{what}_supported": _STRINGS
                for what in (
                    "revocation_endpoint_auth_methods",
                    "introspection_endpoint_auth_methods",
                    "id_token_signing_alg_values",
                    "token_endpoint_auth_signing_alg_values",
                    "acr_values",
                    "claims",
                    "subject_types",
                    "response_types",
                )
            },
        },
        ["issuer", "jwks_uri", "revocation_endpoint", "introspection_endpoint"],
    ),
    "Status": _obj({"status": _str(enum=["ok", "ready"])}, closed=True),
    # -- second factors
    "MfaRequired": _obj(
        {
            "error": _str(enum=["mfa_required"]),
            "error_description": _str(),
            "mfa_token": _str(description="Single-use, bound to this password step (user, client, address)"),
            "methods": {"type": "array", "items": _str(enum=["totp", "recovery_code"])},
            "expires_in": {**_INT, "description": "Seconds the mfa_token stays usable (300)"},
        },
        closed=True,
    ),
    "MfaStep": _obj(
        {
            "mfa_token": _str(1, 128),
            "method": _str(enum=["totp", "recovery_code"]),
            "code": _str(
                1, 64, description="A 6-digit TOTP code, or a recovery code (case, dashes and spaces do not matter)"
            ),
            "transport": {**_OPTIONAL_STR, "enum": ["token", "cookie", None], "default": "token"},
        },
        ["mfa_token", "method", "code"],
    ),
    "StepUp": _obj(
        {"method": _str(enum=["totp", "recovery_code"]), "code": _str(1, 64)},
    ),
    "TotpEnrolment": _obj(
        {
            "secret": _str(description="Base32; shown this once. Confirm it with a code to turn the factor on"),
            "otpauth_uri": _str(description="otpauth://totp/... for an authenticator app's QR code"),
        },
        closed=True,
    ),
    "TotpConfirm": _obj({"code": _str(1, 16, description="A current 6-digit code of the new secret")}),
    "RecoveryCodes": _obj(
        {"recovery_codes": {**_STRINGS, "description": "Ten single-use codes, shown this once"}}, closed=True
    ),
    "OpenApi": _obj({"openapi": _str(), "info": {"type": "object"}, "paths": {"type": "object"}}),
}

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


# -- responses -----------------------------------------------------------------------------------------------------


def _json(schema: Schema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: str | None = None, *, no_store: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer.update(_json(_ref("schemas", schema)))
    if no_store:
        answer["headers"] = {"Cache-Control": _ref("headers", "NoStore")}
    return answer


def _error(description: str, *codes: str, **headers: str) -> dict[str, Any]:
    """An error answer: the Error object with `error` one of `codes`; `headers` maps header name to component."""
    schema = {"allOf": [_ref("schemas", "Error"), {"properties": {"error": {"enum": list(codes)}}}]}
    answer: dict[str, Any] = {"description": description, **_json(schema)}
    answer["headers"] = {"Cache-Control": _ref("headers", "NoStore")}
    answer["headers"].update({name.replace("_", "-"): _ref("headers", h) for name, h in headers.items()})
    return answer


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
        "Client authentication (HTTP Basic, a client with a secret) failed",
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


def _status(**responses: Any) -> dict[str, Any]:
    """Responses keyed by status (`s201=...`); every operation also answers 405 for a method its path lacks."""
    answers = {key.removeprefix("s"): value for key, value in responses.items()}
    answers["405"] = _ref("responses", "MethodNotAllowed")
    return answers


# -- operations ----------------------------------------------------------------------------------------------------


_DPOP_PARAMETER: dict[str, Any] = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "schema": _str(max_len=8192),
    "description": "A DPoP proof (RFC 9449) for this method and URL. At sign-in and refresh it binds the session's "
    "tokens to its key; with `Authorization: DPoP <token>` it proves possession (with ath)",
}


def _op(summary: str, responses: dict[str, Any], *, auth: str | None = None, **more: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, **more, "responses": responses}
    if auth is not None:
        # A bearer-authenticated operation also accepts the cookie transport's access cookie, and DPoP-bound tokens.
        op["security"] = [{auth: []}, {"dpop": []}, {"cookie": []}] if auth == "bearer" else [{auth: []}]
        if auth == "bearer":
            op["parameters"] = [*op.get("parameters", []), _DPOP_PARAMETER]
    return op


def _body(schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "description": _BODY_CAP, "content": {media: {"schema": _ref("schemas", schema)}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _str(), "description": description}


def _oauth(summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    form = "application/x-www-form-urlencoded"
    return _op(
        summary,
        _status(
            s200=ok,
            s400=_ref("responses", "InvalidRequest"),
            s401=_ref("responses", "InvalidClient"),
            s415=_ref("responses", "UnsupportedMediaType"),
        ),
        auth="basic",
        requestBody=_body("TokenForm", form),
    )


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
                "The caller's live sessions",
                _status(s200=_ok("The sessions", "SessionList", no_store=True), s401=r401),
                auth="bearer",
            ),
            "delete": _op(
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
                "Rotate a refresh token: new tokens for the same session. In cookie transport: no body (or one "
                "without refresh_token), the __Host-sw-refresh cookie, X-CSRF-Token and a same-origin Origin",
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
                        "is missing or by another key",
                        "invalid_grant",
                    ),
                    s403=r403_csrf,
                    s415=r415,
                ),
                requestBody=_body("Refresh"),
                parameters=[_DPOP_PARAMETER],
            )
        },
        "/v1/sessions/current": {
            "delete": _op(
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
                "The caller's identity",
                _status(s200=_ok("The caller", "Me", no_store=True), s401=r401),
                auth="bearer",
            )
        },
        "/v1/password": {
            "post": _op(
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
                ),
                auth="bearer",
                requestBody=_body("PasswordChange"),
            )
        },
        "/v1/admin/users": {
            "post": _op(
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
                "End every session of a user (administrators only)",
                _status(
                    s204=_ok("Ended"), s401=r401_step_up, s403=r403_admin, s404=_error("No such user", "not_found")
                ),
                auth="bearer",
                parameters=[_path_param("username", "The user's name")],
            )
        },
        "/v1/sessions/mfa": {
            "post": _op(
                "Log in, second step: the mfa_token of the password step and a second factor",
                _status(
                    s201=any_session,
                    s400=_error("Malformed body, an unknown method or transport", "invalid_request"),
                    s401=_error(
                        "A wrong, used or expired code; an unknown, used, expired or burned mfa_token (five wrong "
                        "codes burn it), or one from another address: sign in again",
                        "invalid_mfa",
                    ),
                    s409=_error("A session limit is reached (on_session_limit = reject)", "session_limit", "conflict"),
                    s415=r415,
                    s429=r429,
                ),
                requestBody=_body("MfaStep"),
            )
        },
        "/v1/sessions/step-up": {
            "post": _op(
                "Step up: check a second factor now; the session's tokens carry acr urn:sessionward:loa:2 and this "
                "auth_time for the policy's step_up_max_age. Answers new tokens (the refresh token rotates)",
                _status(
                    s200=any_session,
                    s400=r400,
                    s401=_error(
                        "The access token is bad (invalid_token, with its challenge), or the code is wrong or used",
                        "invalid_token",
                        "invalid_mfa",
                        WWW_Authenticate="MaybeBearerChallenge",
                    ),
                    s403=_error(
                        "No second factor is enrolled, or (cookie transport) the CSRF proof is missing",
                        "mfa_enrollment_required",
                        "forbidden",
                    ),
                    s415=r415,
                    s429=r429,
                ),
                auth="bearer",
                requestBody=_body("StepUp"),
            )
        },
        "/v1/mfa/totp": {
            "post": _op(
                "Enrol a TOTP factor: a new secret awaiting confirmation. Replacing an enrolled factor needs a "
                "second factor checked within step_up_max_age",
                _status(
                    s200=_ok("The secret", "TotpEnrolment", no_store=True),
                    s401=r401_step_up,
                    s403=r403_csrf,
                ),
                auth="bearer",
            ),
            "delete": _op(
                "Remove the TOTP factor and its recovery codes (needs a second factor checked within "
                "step_up_max_age); the user's other sessions end",
                _status(
                    s204=_ok("Removed"),
                    s401=r401_step_up,
                    s403=r403_csrf,
                    s404=_error("No factor is enrolled", "not_found"),
                ),
                auth="bearer",
            ),
        },
        "/v1/mfa/totp/confirm": {
            "post": _op(
                "Confirm the enrolment with a current code: the factor is on, the user's other sessions end, and "
                "ten single-use recovery codes are shown this once",
                _status(
                    s200=_ok("The recovery codes", "RecoveryCodes", no_store=True),
                    s400=_error("Malformed body, or no enrolment awaits confirmation", "invalid_request"),
                    s401=_error(
                        "The access token is bad, the code is wrong, or (replacing a factor) a second factor "
                        "checked within step_up_max_age is needed",
                        "invalid_token",
                        "invalid_mfa",
                        "insufficient_user_authentication",
                        WWW_Authenticate="MaybeBearerChallenge",
                    ),
                    s403=r403_csrf,
                    s415=r415,
                    s429=r429,
                ),
                auth="bearer",
                requestBody=_body("TotpConfirm"),
            )
        },
        "/v1/oauth/revoke": {
            "post": _oauth("RFC 7009 revocation: ends the token's session", _ok("Done, also for an unknown token"))
        },
        "/v1/oauth/introspect": {
            "post": _oauth("RFC 7662 introspection", _ok("The token's state", "Introspection", no_store=True))
        },
        "/v1/revocations/stream": {
            "get": _op(
                "The revocation feed for relying applications (Server-Sent Events)",
                _status(
                    s200={
                        "description": (
                            "An endless text/event-stream. Each ended session or moved user epoch is an event "
                            '`id: <seq>`, `event: revocation`, `data:` {"kind": "sid", "sid", "until"} '
                            "(reject the session's tokens until `until`, seconds since the epoch) or "
                            '{"kind": "epoch", "sub", "epoch"} (reject the user\'s tokens with iat < epoch). '
                            "A `: ping` comment follows every successful poll of the store at least every 250 ms; "
                            "the first one ends the backlog. Without Last-Event-ID the backlog is every entry that "
                            "still matters; with it, the entries after that id"
                        ),
                        "content": {"text/event-stream": {"schema": _str()}},
                        "headers": {"Cache-Control": _ref("headers", "NoStore")},
                    },
                    s401=_ref("responses", "InvalidClient"),
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
        "/.well-known/openid-configuration": {"get": _op("Discovery", _status(s200=_ok("Metadata", "Discovery")))},
        "/.well-known/jwks.json": {"get": _op("Public signing keys", _status(s200=_ok("The keys", "Jwks")))},
        "/openapi.json": {"get": _op("This document", _status(s200=_ok("OpenAPI 3.1", "OpenApi")))},
        "/healthz": {"get": _op("Alive", _status(s200=_ok("Alive", "Status")))},
        "/readyz": {
            "get": _op(
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
                    "bearerFormat": "JWT",
                    "description": "A DPoP-bound access token (RFC 9449) with a DPoP proof header for each request",
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
            "schemas": copy.deepcopy(_SCHEMAS),
            "headers": copy.deepcopy(_HEADERS),
            "responses": copy.deepcopy(_RESPONSES),
        },
        "paths": _paths(),
    }
