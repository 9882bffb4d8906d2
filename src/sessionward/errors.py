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


class MfaUnavailable(SessionwardError):
    code = "mfa_unavailable"


class WrongPassword(SessionwardError):
    """The current password given to change it is wrong (the caller's token is fine: not a 401)."""

    code = "invalid_current_password"


class Unavailable(SessionwardError):
    """A store this request needs cannot be reached: fail closed, and say it is temporary."""

    code = "temporarily_unavailable"
