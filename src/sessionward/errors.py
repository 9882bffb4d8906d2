"""One root exception; every subclass carries a machine code. Errors know nothing of HTTP."""

from __future__ import annotations


class SessionwardError(Exception):
    code = "server_error"

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.code)
        self.description = description or self.code


class ConfigError(SessionwardError):
    """A configuration key is unknown or its value is bad; `key` names it."""

    code = "invalid_config"

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class InvalidRequest(SessionwardError):
    code = "invalid_request"


class InvalidCredentials(SessionwardError):
    code = "invalid_credentials"


class TooManyAttempts(SessionwardError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many attempts; try again later")
        self.retry_after = retry_after


class InvalidToken(SessionwardError):
    """The one opaque answer for any token we will not accept; `reason` is for the audit log only."""

    code = "invalid_token"

    def __init__(self, reason: str) -> None:
        super().__init__("the access token is missing, invalid, expired or revoked")
        self.reason = reason


class InvalidGrant(SessionwardError):
    code = "invalid_grant"


class InvalidClient(SessionwardError):
    code = "invalid_client"


class NotFound(SessionwardError):
    code = "not_found"


class Forbidden(SessionwardError):
    code = "forbidden"


class Conflict(SessionwardError):
    code = "conflict"


class CredentialsChanged(Conflict):
    """A login verified a password that was replaced before its session could be created."""


class SessionLimit(SessionwardError):
    code = "session_limit"


class NotReady(SessionwardError):
    code = "not_ready"


class MfaRequired(SessionwardError):
    """The password was right; a second factor must follow, with this single-use `mfa_token`."""

    code = "mfa_required"

    def __init__(self, mfa_token: str, methods: tuple[str, ...], expires_in: int) -> None:
        super().__init__("a second factor is required: POST /v1/sessions/mfa with the mfa_token")
        self.mfa_token = mfa_token
        self.methods = methods
        self.expires_in = expires_in


class InvalidMfa(SessionwardError):
    """A wrong, reused or expired second factor, or an unknown, used or expired mfa_token: one opaque answer."""

    code = "invalid_mfa"


class MfaTokenUnusable(InvalidMfa):
    """The mfa_token cannot continue: unknown, used, burned, expired, from another address, or the password
    changed since. The same answer as a wrong code (invalid_mfa); a page can tell the person to sign in again."""


class MfaEnrollmentRequired(SessionwardError):
    """The client's policy demands a second factor and the user has none enrolled."""

    code = "mfa_enrollment_required"


class InsufficientAuthentication(SessionwardError):
    """The caller's session lacks the assurance an operation needs (RFC 9470): `acr_values` and/or `max_age`."""

    code = "insufficient_user_authentication"

    def __init__(self, acr_values: str | None, max_age: int | None, description: str) -> None:
        super().__init__(description)
        self.acr_values = acr_values
        self.max_age = max_age


class WrongPassword(SessionwardError):
    """The current password given to change it is wrong (the caller's token is fine: not a 401)."""

    code = "invalid_current_password"


class Unavailable(SessionwardError):
    """A store this request needs cannot be reached: fail closed, and say it is temporary."""

    code = "temporarily_unavailable"


class InvalidDpopProof(SessionwardError):
    """A DPoP proof (RFC 9449) we will not accept; `reason` is for the audit log only. `at_token_endpoint`: the
    proof came with a sign-in or refresh (answered 400) rather than with an access token (401)."""

    code = "invalid_dpop_proof"

    def __init__(self, reason: str, at_token_endpoint: bool = False, jkt: str | None = None) -> None:
        super().__init__("the DPoP proof is missing or invalid")
        self.reason = reason
        self.at_token_endpoint = at_token_endpoint
        self.jkt = jkt  # the proof key's thumbprint (public), when the refusal knows it: for the audit record


class UseDpopNonce(InvalidDpopProof):
    """The proof lacks the server's current nonce: retry with the one in the `DPoP-Nonce` header."""

    code = "use_dpop_nonce"

    def __init__(self, nonce: str, at_token_endpoint: bool = False) -> None:
        super().__init__("use_dpop_nonce", at_token_endpoint)
        self.description = "the DPoP proof must carry the server's nonce (DPoP-Nonce header)"
        self.nonce = nonce
