"""Assurance: what a session's tokens say about how (acr, amr) and when (auth_time) the person authenticated,
and whether that is enough for an operation (RFC 9470). Pure rules that take `now`.

Levels: "urn:sessionward:loa:1" is a password alone, "urn:sessionward:loa:2" a password and a second factor.
A session remembers what its login verified (`acr`, `amr`, `auth_time`) and when a second factor was last
verified (`mfa_at`: at an MFA login, or a step-up). A password-only session that stepped up is raised to loa:2
for the policy's `step_up_max_age` after the factor check and falls back to loa:1 afterwards; `auth_time` is the
newest authentication, so an operation that demands `max_age` fails for any session whose last check is older.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sessionward.core.models import Session

LOA_PASSWORD = "urn:sessionward:loa:1"  # noqa: S105 -- an assurance level, not a password
LOA_MFA = "urn:sessionward:loa:2"
_RANK = {LOA_PASSWORD: 1, LOA_MFA: 2}

# RFC 8176: "pwd" a password, "otp" a one-time password (a TOTP code, and also a single-use recovery code),
# "hwk" proof of possession of a hardware-secured key (a WebAuthn authenticator), "mfa" more than one factor.
AMR_PASSWORD = ("pwd",)
AMR_MFA = ("pwd", "otp", "mfa")


def factor_amr(method: str) -> tuple[str, ...]:
    """The methods a verified second factor adds to a password: ("hwk", "mfa") for WebAuthn, else ("otp", "mfa")."""
    return ("hwk", "mfa") if method == "webauthn" else ("otp", "mfa")


@dataclass(frozen=True, slots=True)
class Assurance:
    acr: str
    amr: tuple[str, ...]
    auth_time: float


def acr_rank(acr: str) -> int:
    """0 for an unknown value: it satisfies no requirement."""
    return _RANK.get(acr, 0)


def effective_assurance(session: Session, step_up_max_age: float, now: float) -> Assurance:
    """What tokens issued at `now` for `session` claim."""
    mfa_at = session.mfa_at
    auth_time = session.auth_time if mfa_at is None else max(session.auth_time, mfa_at)
    if acr_rank(session.acr) >= acr_rank(LOA_MFA) or mfa_at is None:
        return Assurance(session.acr, session.amr, auth_time)
    if now < mfa_at + step_up_max_age:  # a step-up, still within its window
        amr = tuple(dict.fromkeys((*session.amr, *(session.mfa_amr or AMR_MFA[1:]))))
        return Assurance(LOA_MFA, amr, auth_time)
    return Assurance(session.acr, session.amr, auth_time)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What an operation needs: at least `acr` (None: any) and an authentication within `max_age` s (None: any)."""

    acr: str | None = None
    max_age: float | None = None


def acr_satisfies(have: str, want: str) -> bool:
    """Whether a session at `have` meets a requirement of `want`: by rank between our own levels (loa:2 meets
    loa:1), by exact match for any other value. An unknown requirement is never met by a known level."""
    have_rank, want_rank = acr_rank(have), acr_rank(want)
    if have_rank and want_rank:
        return have_rank >= want_rank
    return have == want


def required_for_sensitive(require_mfa: bool, has_factor: bool, step_up_max_age: float) -> Requirement | None:
    """A sensitive operation (admin API, password change, factor changes, ending others' sessions) needs a
    second factor checked within `step_up_max_age` when the policy demands MFA or the user has a factor."""
    if require_mfa or has_factor:
        return Requirement(LOA_MFA, step_up_max_age)
    return None


def assurance_shortfall(
    claims_acr: str, claims_auth_time: float, required_acr: str | None, max_age: float | None, now: float
) -> tuple[str | None, int | None] | None:
    """None when the token's acr and auth_time satisfy the requirement at `now`; otherwise the RFC 9470
    challenge's (acr_values, max_age), both stated whenever either falls short."""
    acr_short = required_acr is not None and not acr_satisfies(claims_acr, required_acr)
    age_short = max_age is not None and not (now - claims_auth_time <= max_age)
    if not (acr_short or age_short):
        return None
    return required_acr, None if max_age is None else math.floor(max_age)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(acr: str | None, max_age: int | None) -> tuple[str, str]:
    """(description, WWW-Authenticate value) of the RFC 9470 insufficient_user_authentication challenge."""
    parts = ['Bearer error="insufficient_user_authentication"']
    wants = []
    if acr is not None:
        parts.append(f"acr_values={_quoted(acr)}")
        wants.append(f"acr {acr}")
    if max_age is not None:
        parts.append(f'max_age="{max_age}"')
        wants.append(f"an authentication within {max_age} s")
    description = "this operation needs " + (" and ".join(wants) or "a stronger authentication")
    parts.insert(1, f"error_description={_quoted(description)}")
    return description, ", ".join(parts)
