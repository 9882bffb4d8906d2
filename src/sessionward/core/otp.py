"""One-time codes, pure: TOTP (RFC 6238) checked within one step of drift, and single-use recovery codes.

Nothing here remembers what was used: the store accepts a time step or a recovery code once (compare-and-set).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets

import pyotp

from sessionward.core.numbers import ascii_digits

TOTP_PERIOD = 30
TOTP_DIGITS = 6
DRIFT_STEPS = 1  # a code of the step before or after the current one is accepted too
ISSUER_NAME = "sessionward"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: 5 bits a character
RECOVERY_CODE_CHARS = 10  # 10 characters of 32: 50 bits


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommended length


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or a link)."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    return totp.provisioning_uri(name=username, issuer_name=ISSUER_NAME)


def totp_step_matching(secret: str, code: str, now: float) -> int | None:
    """The time step within the drift whose code is `code`, or None. Compared in constant time."""
    code = code.replace(" ", "")
    if len(code) != TOTP_DIGITS or not ascii_digits(code):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = math.floor(now / TOTP_PERIOD)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def recovery_code_hash(code: str) -> str:
    """Codes are compared by the SHA-256 of their normalized form: case, spaces and dashes do not matter."""
    normal = "".join(ch for ch in code.upper() if ch not in " -")
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def new_recovery_code() -> str:
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_CHARS))
    return f"{chars[:5]}-{chars[5:]}"
