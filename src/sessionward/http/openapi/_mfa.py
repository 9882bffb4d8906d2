"""The OpenAPI document's second-factor part: TOTP, WebAuthn, recovery codes, the second step of a login,
step-up, and an administrator's reset of a lost factor."""

from __future__ import annotations

from typing import Any

from sessionward.http.openapi._parts import (
    _BOOL,
    _INT,
    _OPTIONAL_STR,
    _STRINGS,
    _TIME,
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
from sessionward.http.openapi._webauthn import (
    FIRST_FACTOR_401,
    FIRST_FACTOR_403,
    FIRST_FACTOR_BODY,
    WEBAUTHN_SCHEMAS,
    webauthn_paths,
)

_METHODS = ("totp", "webauthn", "recovery_code")
_CODE = _str(
    1,
    64,
    description="method totp or recovery_code: a 6-digit TOTP code, or a recovery code (case, dashes and spaces do "
    "not matter)",
)
_ASSERTION: Schema = {
    "type": "object",
    "description": "method webauthn: the PublicKeyCredential of navigator.credentials.get() as JSON (id, rawId, type, "
    "response.clientDataJSON, response.authenticatorData, response.signature, response.userHandle, base64url), "
    "answering the options of the matching .../webauthn endpoint",
}

MFA_SCHEMAS: dict[str, Schema] = {
    **WEBAUTHN_SCHEMAS,
    "MfaRequired": _obj(
        {
            "error": _str(enum=["mfa_required"]),
            "error_description": _str(),
            "mfa_token": _str(description="Single-use, bound to this password step (user, client, address)"),
            "methods": {
                "type": "array",
                "items": _str(enum=list(_METHODS)),
                "description": "The methods this user can answer with",
            },
            "expires_in": {**_INT, "description": "Seconds the mfa_token stays usable (300)"},
        },
        closed=True,
    ),
    "MfaStep": _obj(
        {
            "mfa_token": _str(1, 128),
            "method": _str(enum=list(_METHODS)),
            "code": _CODE,
            "credential": _ASSERTION,
            "transport": {**_OPTIONAL_STR, "enum": ["token", "cookie", None], "default": "token"},
        },
        ["mfa_token", "method"],
    ),
    "StepUp": _obj({"method": _str(enum=list(_METHODS)), "code": _CODE, "credential": _ASSERTION}, ["method"]),
    "Factors": _obj(
        {
            "totp": _BOOL,
            "webauthn": {
                "type": "array",
                "items": _obj(
                    {
                        "credential_id": _str(),
                        "name": _str(),
                        "created_at": _TIME,
                        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                    closed=True,
                ),
            },
            "recovery_codes_left": _INT,
            "methods": {"type": "array", "items": _str(enum=list(_METHODS))},
        },
        closed=True,
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
}


def mfa_paths(
    any_session: dict[str, Any],
    r400: dict[str, Any],
    r401_step_up: dict[str, Any],
    r403_csrf: dict[str, Any],
    r415: dict[str, Any],
    r429: dict[str, Any],
) -> dict[str, Any]:
    return {
        "/v1/sessions/mfa": {
            "post": _op(
                "completeLoginSecondFactor",
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
                "stepUp",
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
                "startTotpEnrolment",
                "Enrol a TOTP factor: a new secret awaiting confirmation. Replacing an enrolled factor needs a "
                "second factor checked within step_up_max_age; a first factor a password check within it (the "
                "session's own sign-in, or current_password)",
                _status(
                    s200=_ok("The secret", "TotpEnrolment", no_store=True),
                    s400=_error("A malformed body", "invalid_request"),
                    s401=FIRST_FACTOR_401,
                    s403=FIRST_FACTOR_403,
                    s415=r415,
                    s429=r429,
                ),
                auth="bearer",
                requestBody=FIRST_FACTOR_BODY,
            ),
            "delete": _op(
                "removeTotp",
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
                "confirmTotpEnrolment",
                "Confirm the enrolment with a current code: the factor is on, the user's other sessions end (with the "
                "user's first factor they stay, and the audit trail names this session), and ten single-use "
                "recovery codes are shown this once",
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
        "/v1/mfa": {
            "get": _op(
                "listFactors",
                "The caller's second factors: TOTP on or off, the security keys, the recovery codes left",
                _status(s200=_ok("The factors", "Factors", no_store=True), s401=_ref("responses", "InvalidToken")),
                auth="bearer",
            )
        },
        "/v1/mfa/recovery-codes": {
            "post": _op(
                "regenerateRecoveryCodes",
                "Ten new recovery codes, shown this once; the old ones stop working and the user's other sessions "
                "end. Needs a second factor checked within step_up_max_age",
                _status(
                    s200=_ok("The recovery codes", "RecoveryCodes", no_store=True),
                    s401=r401_step_up,
                    s403=_error(
                        "No second factor is enrolled, or (cookie transport) the CSRF proof is missing",
                        "mfa_enrollment_required",
                        "forbidden",
                    ),
                ),
                auth="bearer",
            )
        },
        **webauthn_paths(r400, r401_step_up, r403_csrf, r415, r429),
        "/v1/admin/users/{username}/mfa": {
            "delete": _op(
                "resetUserFactors",
                "Reset a user's lost second factor (administrators only): every factor and recovery code of the user "
                "is removed and every session of the user ends; the user signs in with the password and enrols again",
                _status(
                    s204=_ok("Reset"),
                    s401=r401_step_up,
                    s403=_ref("responses", "NotAdmin"),
                    s404=_error("No such user", "not_found"),
                ),
                auth="bearer",
                parameters=[_path_param("username", "The user's name")],
            )
        },
    }
