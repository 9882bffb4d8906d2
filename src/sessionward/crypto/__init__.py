"""Keys and access-token JWS: a small, audited path over `cryptography` (no general JOSE library)."""

from sessionward.crypto.jwt import REASONS, AccessClaims, TokenRejected, TokenVerifier, VerifyRules, sign_jwt
from sessionward.crypto.keys import (
    Algorithm,
    KeyRing,
    KeyState,
    SigningKey,
    generate_key,
    load_signing_key,
    private_key_pem,
    public_jwk,
    retire,
)

__all__ = [
    "REASONS",
    "AccessClaims",
    "Algorithm",
    "KeyRing",
    "KeyState",
    "SigningKey",
    "TokenRejected",
    "TokenVerifier",
    "VerifyRules",
    "generate_key",
    "load_signing_key",
    "private_key_pem",
    "public_jwk",
    "retire",
    "sign_jwt",
]
