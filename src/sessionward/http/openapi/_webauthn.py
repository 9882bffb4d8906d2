"""The OpenAPI document's WebAuthn part: registering security keys, and the options a sign-in or a step-up with a
key answers."""

from __future__ import annotations

from typing import Any

from sessionward.http.openapi._parts import (
    _STRINGS,
    Schema,
    _body,
    _error,
    _obj,
    _ok,
    _op,
    _path_param,
    _ref,
    _status,
    _str,
)

WEBAUTHN_SCHEMAS: dict[str, Schema] = {
    "FirstFactorCheck": _obj(
        {
            "current_password": _str(
                1,
                1024,
                description="Binding the user's first factor needs a password check within step_up_max_age: the "
                "session's own sign-in, or this (a wrong one counts in the sign-in throttle)",
            )
        },
        [],
    ),
    "MfaToken": _obj({"mfa_token": _str(1, 128)}),
    "WebAuthnOptions": _obj(
        {
            "publicKey": {
                "type": "object",
                "description": "PublicKeyCredentialCreationOptions or PublicKeyCredentialRequestOptions as JSON "
                "(binary members base64url): decode them and pass them to navigator.credentials.create() or get(). "
                "The challenge is single-use and lasts 300 s; user verification is required",
            }
        },
        closed=True,
    ),
    "WebAuthnRegistration": _obj(
        {
            "credential": {
                "type": "object",
                "description": "The PublicKeyCredential of navigator.credentials.create() as JSON (id, rawId, type, "
                "response.clientDataJSON, response.attestationObject, base64url)",
            },
            "name": _str(0, 64, description="A label for the key; default 'Security key'"),
        },
        ["credential"],
    ),
    "WebAuthnRegistered": _obj(
        {
            "credential_id": _str(description="base64url"),
            "name": _str(),
            "recovery_codes": {**_STRINGS, "description": "With the user's first factor only: shown this once"},
        },
        ["credential_id", "name"],
        closed=True,
    ),
}

# The optional body of the two requests that begin adding a factor, and what they answer for it.
FIRST_FACTOR_BODY: dict[str, Any] = {**_body("FirstFactorCheck"), "required": False}
FIRST_FACTOR_401 = _error(
    "The access token is bad; or (insufficient_user_authentication) a factor change needs a second factor checked "
    "within step_up_max_age, or a first factor a password check within it (max_age): give current_password",
    "invalid_token",
    "insufficient_user_authentication",
    WWW_Authenticate="BearerOrStepUpChallenge",
)
FIRST_FACTOR_403 = _error(
    "The current_password is wrong, or (cookie transport) the CSRF proof is missing",
    "invalid_current_password",
    "forbidden",
)


def webauthn_paths(
    r400: dict[str, Any],
    r401_step_up: dict[str, Any],
    r403_csrf: dict[str, Any],
    r415: dict[str, Any],
    r429: dict[str, Any],
) -> dict[str, Any]:
    return {
        "/v1/mfa/webauthn": {
            "post": _op(
                "startWebAuthnRegistration",
                "Start registering a WebAuthn authenticator (user verification required): the options for "
                "navigator.credentials.create(). Adding a key next to another factor needs a second factor checked "
                "within step_up_max_age; a first factor a password check within it (current_password)",
                _status(
                    s200=_ok("The creation options", "WebAuthnOptions", no_store=True),
                    s400=_error(
                        "Ten keys are registered already, the issuer is an IP address (WebAuthn needs a DNS name "
                        "or loopback), or a malformed body",
                        "invalid_request",
                    ),
                    s401=FIRST_FACTOR_401,
                    s403=FIRST_FACTOR_403,
                    s415=r415,
                    s429=r429,
                ),
                auth="bearer",
                requestBody=FIRST_FACTOR_BODY,
            )
        },
        "/v1/mfa/webauthn/confirm": {
            "post": _op(
                "confirmWebAuthnRegistration",
                "Finish the registration with the authenticator's answer: the key is a factor, the user's other "
                "sessions end; with the user's first factor they stay (the audit trail names this session) and ten "
                "recovery codes are shown this once",
                _status(
                    s200=_ok("The key", "WebAuthnRegistered", no_store=True),
                    s400=_error("Malformed body, or the key is registered already", "invalid_request"),
                    s401=_error(
                        "The access token is bad; the answer is invalid, without user verification, for another "
                        "origin, or its challenge is unknown, used or expired (invalid_mfa); or a second factor "
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
                requestBody=_body("WebAuthnRegistration"),
            )
        },
        "/v1/mfa/webauthn/{credential_id}": {
            "delete": _op(
                "removeWebAuthnCredential",
                "Remove a security key (needs a second factor checked within step_up_max_age); the user's other "
                "sessions end, and the recovery codes go with the last factor",
                _status(
                    s204=_ok("Removed"),
                    s401=r401_step_up,
                    s403=r403_csrf,
                    s404=_error("No such key of the caller's", "not_found"),
                ),
                auth="bearer",
                parameters=[_path_param("credential_id", "The key's credential_id (GET /v1/mfa)")],
            )
        },
        "/v1/sessions/mfa/webauthn": {
            "post": _op(
                "getWebAuthnLoginOptions",
                "Log in, second step with a security key: the options for navigator.credentials.get(), whose "
                "challenge answers only this mfa_token",
                _status(
                    s200=_ok("The request options", "WebAuthnOptions", no_store=True),
                    s400=_error("Malformed body, or the user has no security key", "invalid_request"),
                    s401=_error(
                        "An unknown, used, expired or burned mfa_token, or one from another address", "invalid_mfa"
                    ),
                    s415=r415,
                ),
                requestBody=_body("MfaToken"),
            )
        },
        "/v1/sessions/step-up/webauthn": {
            "post": _op(
                "getWebAuthnStepUpOptions",
                "Step up with a security key: the options for navigator.credentials.get(), whose challenge answers "
                "only a step-up of this session",
                _status(
                    s200=_ok("The request options", "WebAuthnOptions", no_store=True),
                    s400=r400,
                    s401=_ref("responses", "InvalidToken"),
                    s403=_error(
                        "No security key is registered, or (cookie transport) the CSRF proof is missing",
                        "mfa_enrollment_required",
                        "forbidden",
                    ),
                ),
                auth="bearer",
            )
        },
    }
