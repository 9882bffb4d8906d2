"""The records the rules reason about. Frozen: a change is a new value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SessionState = Literal["active", "ended"]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    username: str
    password_hash: str = field(repr=False)
    is_admin: bool
    created_at: float
    # Tokens issued before this instant are dead (password change, "sign out everywhere").
    epoch: float = 0.0


@dataclass(frozen=True, slots=True)
class Session:
    sid: str = field(repr=False)
    user_id: str
    client_id: str
    policy: str
    created_at: float
    last_active_at: float
    auth_time: float
    acr: str
    amr: tuple[str, ...]
    ip: str
    user_agent: str
    state: SessionState = "active"
    ended_at: float | None = None
    end_reason: str = ""
    # The refresh-token family: a random prefix every refresh token of this session carries, so a token of
    # any earlier generation is recognised as this session's (reuse) without storing every hash.
    family: str = field(default="", repr=False)
    # When a second factor was last verified for this session (an MFA login or a step-up); None: never.
    mfa_at: float | None = None
    # The RFC 7638 thumbprint of the DPoP key the session is bound to (RFC 9449); None: bearer tokens.
    dpop_jkt: str | None = field(default=None, repr=False)
    # The RFC 8176 methods of the factor last verified by a step-up ("otp", or "hwk" for WebAuthn).
    mfa_amr: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token as stored: only its hash, never the token."""

    token_hash: str
    sid: str = field(repr=False)
    created_at: float
    state: Literal["current", "rotated"] = "current"
    rotated_at: float | None = None
    successor: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Revocation:
    """An ended session (kind "sid", kept until `value`) or a user's new epoch (kind "epoch", `value`)."""

    seq: int
    kind: Literal["sid", "epoch"]
    subject: str = field(repr=False)
    value: float


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    alg: str
    private_pem: bytes = field(repr=False)
    created_at: float
    state: str
    verify_until: float | None


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's TOTP factor: the confirmed secret, a secret awaiting confirmation, and the newest time step
    accepted (a code is accepted once: only steps after it verify)."""

    user_id: str
    secret: str | None = field(repr=False)
    pending_secret: str | None = field(repr=False)
    last_step: int
    confirmed_at: float | None


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """The second step of one login: the password was right; `token_hash` names it (the token only hashed)."""

    token_hash: str = field(repr=False)
    user_id: str
    client_id: str
    ip: str
    user_agent: str
    revoke_others: bool
    # SHA-256 of the password hash the first step verified: a password change in between voids the challenge.
    password_digest: str = field(repr=False)
    created_at: float
    expires_at: float
    failures: int = 0
    state: Literal["pending", "used", "burned"] = "pending"


@dataclass(frozen=True, slots=True)
class WebAuthnCredential:
    """A registered authenticator: its credential id (base64url), COSE public key and newest signature count."""

    credential_id: str
    user_id: str
    public_key: bytes = field(repr=False)
    sign_count: int
    name: str
    created_at: float
    last_used_at: float | None = None
