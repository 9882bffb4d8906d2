"""WebAuthn (Level 2) as a second factor, on py_webauthn: registration and assertion, user verification required.

The relying party is the issuer: its host is the RP ID and its origin the one origin accepted (a loopback issuer
such as https://127.0.0.1:8443 uses RP ID "localhost" and https://localhost:8443, since an RP ID cannot be an IP
address). Every ceremony's challenge is 32 random bytes, stored only hashed, bound to the user and to what it is
for ("register", "login:<mfa_token hash>", "step_up:<sid>"), taken once and within CHALLENGE_TTL seconds, on any
node. Signature counters only move forward (compare-and-set); attestation is not requested ("none"): the factor
proves possession of a key the user registered while signed in, not the make of the authenticator.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from sessionward.clock import Clock
from sessionward.core.audit import AuditEvent
from sessionward.core.models import WebAuthnCredential
from sessionward.errors import InvalidRequest
from sessionward.stores.base import DurableStore

CHALLENGE_TTL = 300.0  # seconds a ceremony may take, from options to answer
TIMEOUT_MS = 120_000  # what the browser is told to allow the person
RP_NAME = "sessionward"
MAX_CREDENTIALS_PER_USER = 10
MAX_NAME_CHARS = 64
MAX_CREDENTIAL_ID_BYTES = 1023
# Whatever a malformed answer makes the library raise: each one is a refusal, never a 500.
_MALFORMED = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, AttributeError)


@dataclass(frozen=True, slots=True)
class RelyingParty:
    rp_id: str
    origin: str


def relying_party(issuer_url: str) -> RelyingParty | None:
    """The RP of an issuer URL; None for a non-loopback IP address, which no browser accepts as an RP ID."""
    parts = urlsplit(issuer_url)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != 443 else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return RelyingParty(host, f"https://{host}{port}") if host else None
    return RelyingParty("localhost", f"https://localhost{port}") if address.is_loopback else None


def challenge_hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _challenge_of(client_data_json: bytes) -> bytes:
    return parse_client_data_json(client_data_json).challenge


class WebAuthnUnavailable(InvalidRequest):
    """The issuer is an IP address other than loopback: browsers refuse WebAuthn for it."""


class WebAuthnService:
    def __init__(self, issuer_url: str, store: DurableStore, clock: Clock) -> None:
        self._rp = relying_party(issuer_url)
        self._store = store
        self._clock = clock

    def _party(self) -> RelyingParty:
        if self._rp is None:
            raise WebAuthnUnavailable("WebAuthn needs the issuer ([server] issuer) to be a DNS name or loopback")
        return self._rp

    async def _new_challenge(self, user_id: str, purpose: str) -> bytes:
        now = self._clock.now()
        challenge = secrets.token_bytes(32)
        await self._store.create_webauthn_challenge(
            challenge_hash(challenge), user_id, purpose, now + CHALLENGE_TTL, now
        )
        return challenge

    async def _take(self, client_data_json: bytes, user_id: str, purpose: str) -> bytes | None:
        challenge = _challenge_of(client_data_json)
        taken = await self._store.take_webauthn_challenge(
            challenge_hash(challenge), user_id, purpose, self._clock.now()
        )
        return challenge if taken else None

    # -- registration ----------------------------------------------------------------------------------------

    async def registration_options(self, user_id: str, username: str) -> dict[str, Any]:
        rp = self._party()
        existing = await self._store.list_webauthn_credentials(user_id)
        if len(existing) >= MAX_CREDENTIALS_PER_USER:
            raise InvalidRequest(f"at most {MAX_CREDENTIALS_PER_USER} authenticators: remove one first")
        options = generate_registration_options(
            rp_id=rp.rp_id,
            rp_name=RP_NAME,
            user_name=username,
            user_id=user_id.encode("utf-8"),
            challenge=await self._new_challenge(user_id, "register"),
            timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in existing
            ],
        )
        return dict(json.loads(options_to_json(options)))

    async def verify_registration(self, user_id: str, answer: dict[str, Any], name: str) -> WebAuthnCredential | None:
        """The new credential, or None: the answer is malformed, its challenge is not one we issued to this
        user for registration (or is used or expired), or the authenticator did not verify the user."""
        rp = self._party()
        try:
            parsed = parse_registration_credential_json(answer)
            challenge = await self._take(parsed.response.client_data_json, user_id, "register")
            if challenge is None:
                return None
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
                require_user_verification=True,
            )
        except _MALFORMED:
            return None
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:  # WebAuthn's own limit; the column fits it
            return None
        label = "".join(ch for ch in name if ch.isprintable())[:MAX_NAME_CHARS].strip() or "Security key"
        return WebAuthnCredential(
            bytes_to_base64url(verified.credential_id),
            user_id,
            verified.credential_public_key,
            verified.sign_count,
            label,
            self._clock.now(),
        )

    # -- authentication --------------------------------------------------------------------------------------

    async def authentication_options(self, user_id: str, purpose: str) -> dict[str, Any] | None:
        """Options for an assertion by one of the user's authenticators; None when the user has none."""
        rp = self._party()
        credentials = await self._store.list_webauthn_credentials(user_id)
        if not credentials:
            return None
        options = generate_authentication_options(
            rp_id=rp.rp_id,
            challenge=await self._new_challenge(user_id, purpose),
            timeout=TIMEOUT_MS,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in credentials
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return dict(json.loads(options_to_json(options)))

    async def verify_assertion(
        self, user_id: str, answer: dict[str, Any], purpose: str, audit: Sequence[AuditEvent]
    ) -> str | None:
        """None when the assertion verifies, once; otherwise why not (for the audit trail): malformed, a
        challenge not ours / used / expired / for something else, an unknown or someone else's credential, a bad
        signature, no user verification, or a signature counter that did not move forward."""
        rp = self._party()
        try:
            parsed = parse_authentication_credential_json(answer)
            challenge = await self._take(parsed.response.client_data_json, user_id, purpose)
            if challenge is None:
                return "challenge_unknown_used_or_expired"
            stored = await self._store.get_webauthn_credential(bytes_to_base64url(parsed.raw_id))
            if stored is None or stored.user_id != user_id:
                return "unknown_credential"
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=rp.rp_id,
                expected_origin=rp.origin,
                credential_public_key=stored.public_key,
                credential_current_sign_count=stored.sign_count,
                require_user_verification=True,
            )
        except _MALFORMED:
            return "assertion_invalid"
        used = await self._store.use_webauthn_credential(
            stored.credential_id, user_id, stored.sign_count, verified.new_sign_count, audit, self._clock.now()
        )
        return None if used else "sign_count_raced"
