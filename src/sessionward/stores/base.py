"""Narrow store protocols. Every mutating verb takes the audit events of its change and writes them in the
same transaction, so the trail never misses a change nor records one that did not happen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sessionward.core.audit import AuditEvent, AuditKeying, AuditRecord
from sessionward.core.limits import Admission
from sessionward.core.models import (
    MfaChallenge,
    RefreshToken,
    Revocation,
    Session,
    StoredKey,
    TotpFactor,
    User,
    WebAuthnCredential,
)
from sessionward.core.session import SessionTimeouts


class RevocationPage(list[Revocation]):
    """One read of the revocation feed: the entries that still matter, oldest first, and how far the read got.

    `scanned_to` is the highest seq the read looked at, expired entries included: the next read starts there, so
    a feed whose newest entries have expired does not hold the reader behind them. `full` says the read stopped
    at its page size and more may follow at once."""

    def __init__(self, entries: Sequence[Revocation], scanned_to: int, full: bool) -> None:
        super().__init__(entries)
        self.scanned_to = scanned_to
        self.full = full


class UserStore(Protocol):
    async def create_user(self, user: User, audit: Sequence[AuditEvent], at: float) -> None:
        """Raises Conflict when the username is taken: by the same name in any case (core.names.fold_username)."""
        ...

    async def get_user_by_name(self, username: str) -> User | None:
        """The one user whose name folds like `username` (any case form finds it)."""
        ...

    async def list_users(self) -> list[User]: ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def set_password_hash(
        self, user_id: str, password_hash: str, audit: Sequence[AuditEvent], at: float, replaces: str | None = None
    ) -> bool:
        """With `replaces`, only while the stored hash is still that one (a rehash never undoes a change)."""
        ...


class KeyStore(Protocol):
    async def list_keys(self) -> list[StoredKey]: ...

    async def add_key(
        self, key: StoredKey, retire: Sequence[tuple[str, float]], audit: Sequence[AuditEvent], at: float
    ) -> None:
        """Adds `key` and retires each (kid, verify_until) in one transaction."""
        ...


Admit = Callable[[Sequence[Session], Sequence[Session]], Admission]


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """What a refresh writes, decided inside the store's transaction from the token and session it read.

    `rotate_to` and `successor` rotate the presented token (compare-and-set); `end_reason` ends the session;
    `audit` is appended either way; `result` goes back to the caller untouched.
    """

    audit: Sequence[AuditEvent]
    result: object = None
    rotate_to: RefreshToken | None = None
    successor: bytes | None = None
    end_reason: str | None = None
    ended_by: str = "policy"
    # With `rotate_to`: bind the (unbound) session to this DPoP key thumbprint from now on.
    bind_jkt: str | None = None
    # With `rotate_to`: forget the session's tokens rotated out before this instant (their grace has passed).
    # None: forget none. Every token rotated out since stays, with its successor, for the grace's replays.
    forget_rotated_before: float | None = None


Plan = Callable[[RefreshToken | None, Session | None], RefreshPlan]


class SessionStore(Protocol):
    async def create_session(
        self,
        session: Session,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
        admit: Admit | None = None,
        refused_audit: Callable[[Admission], Sequence[AuditEvent]] | None = None,
        verified_hash: str | None = None,
    ) -> Admission:
        """With `verified_hash`, raises CredentialsChanged when the user's password hash is no longer the one the
        login verified (a password change committed while the login was checking the old password).

        Counts the user's and the address's active sessions, asks `admit`, ends what it names and creates the
        session, in one transaction. Raises Conflict when the sid or the refresh hash exists already."""
        ...

    async def get_session(self, sid: str) -> Session | None: ...

    async def list_sessions(self, user_id: str) -> list[Session]: ...

    async def get_refresh(self, token_hash: str) -> RefreshToken | None: ...

    async def get_refresh_and_session(self, token_hash: str) -> tuple[RefreshToken, Session] | None: ...

    async def refresh(self, token_hash: str, family: str | None, plan: Plan, at: float) -> RefreshPlan:
        """Reads the token and its session, asks `plan`, writes what it says: one transaction that holds the
        token's row, so two presentations of one token are decided one after the other.

        Every token rotated out is kept, with its successor, until a rotation's plan says its grace has passed
        (`forget_rotated_before`) or the session is purged: a token not found whose `family` names a session is
        a forgotten generation of it, handed to `plan` as a token rotated out long ago (reuse)."""
        ...

    async def end_sessions(
        self, sids: Sequence[str], reason: str, by: str, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]:
        """Ends the active ones among `sids`; an ended session never comes back."""
        ...

    async def end_user_sessions(
        self, user_id: str, reason: str, by: str, except_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session]: ...

    async def expire_sessions(self, policies: dict[str, SessionTimeouts], at: float) -> list[Session]: ...

    async def purge(self, ended_before: float, now: float) -> int: ...

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        epoch: float,
        session: Session,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
    ) -> list[Session]: ...

    async def revocations_since(self, seq: int, now: float) -> RevocationPage: ...


class AuditLog(Protocol):
    async def append_audit(self, events: Sequence[AuditEvent], at: float) -> None: ...

    async def append_audit_batches(self, batches: Sequence[tuple[Sequence[AuditEvent], float]]) -> None: ...

    def audit_records(self) -> AsyncIterator[AuditRecord]: ...

    async def audit_head(self) -> tuple[int, str] | None: ...

    def audit_keying(self) -> AuditKeying | None:
        """The audit chain's key and the record it starts at (None: the store holds no server secret)."""
        ...


class MfaStore(Protocol):
    """Second factors. Every acceptance is a compare-and-set: nothing is accepted twice, on any node."""

    async def get_totp(self, user_id: str) -> TotpFactor | None: ...

    async def set_pending_totp(self, user_id: str, secret: str, audit: Sequence[AuditEvent], at: float) -> None: ...

    async def confirm_totp(
        self,
        user_id: str,
        pending_secret: str,
        step: int,
        code_hashes: Sequence[str],
        keep_sid: str | None,
        audit: Sequence[AuditEvent],
        at: float,
        *,
        end_others: bool = True,
    ) -> list[Session] | None:
        """None when `pending_secret` is no longer the pending one; else the other sessions it ended (none when
        `end_others` is False: a user's first factor keeps them)."""
        ...

    async def use_totp_step(
        self, user_id: str, secret: str, step: int, audit: Sequence[AuditEvent], at: float
    ) -> bool: ...

    async def remove_totp(
        self, user_id: str, keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None: ...

    async def use_recovery_code(self, user_id: str, code_hash: str, audit: Sequence[AuditEvent], at: float) -> bool: ...

    async def recovery_codes_left(self, user_id: str) -> int: ...

    async def create_mfa_challenge(self, challenge: MfaChallenge, audit: Sequence[AuditEvent], at: float) -> None: ...

    async def get_mfa_challenge(self, token_hash: str) -> MfaChallenge | None: ...

    async def reserve_mfa_attempt(self, token_hash: str, max_attempts: int, at: float) -> int | None:
        """Counts one attempt against a pending, unexpired challenge before its code is checked, and only while
        fewer than `max_attempts` are counted: one compare-and-set, so a burst of concurrent guesses gets at
        most `max_attempts` checked. The attempt's number (1 for the first), or None: full, burned, used,
        expired or unknown."""
        ...

    async def release_mfa_attempt(self, token_hash: str, at: float) -> None:
        """Takes back one counted attempt (its code was never checked)."""
        ...

    async def burn_mfa_challenge(self, token_hash: str, audit: Sequence[AuditEvent], at: float) -> bool:
        """Pending -> burned (too many wrong codes); the audit written with it. False: it was not pending."""
        ...

    async def consume_mfa_challenge(self, token_hash: str, at: float) -> bool: ...

    async def elevate_session(
        self,
        sid: str,
        refresh: RefreshToken,
        audit: Sequence[AuditEvent],
        at: float,
        amr: tuple[str, ...] = ("otp", "mfa"),
    ) -> Session | None: ...


class WebAuthnStore(Protocol):
    """Registered authenticators and their single-use ceremony challenges (only hashed)."""

    async def create_webauthn_challenge(
        self, challenge_hash: str, user_id: str, purpose: str, expires_at: float, at: float
    ) -> None: ...

    async def take_webauthn_challenge(self, challenge_hash: str, user_id: str, purpose: str, at: float) -> bool:
        """True once, for the user and purpose it was issued to, before it expires."""
        ...

    async def list_webauthn_credentials(self, user_id: str) -> list[WebAuthnCredential]: ...

    async def get_webauthn_credential(self, credential_id: str) -> WebAuthnCredential | None: ...

    async def add_webauthn_credential(
        self,
        credential: WebAuthnCredential,
        code_hashes: Sequence[str],
        keep_sid: str | None,
        audit: Sequence[AuditEvent],
        at: float,
        *,
        end_others: bool = True,
    ) -> list[Session] | None:
        """None when the credential id is registered already; else the other sessions it ended (none when
        `end_others` is False: a user's first factor keeps them)."""
        ...

    async def use_webauthn_credential(
        self, credential_id: str, user_id: str, seen_count: int, new_count: int, audit: Sequence[AuditEvent], at: float
    ) -> bool: ...

    async def remove_webauthn_credential(
        self, user_id: str, credential_id: str, keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None: ...

    async def replace_recovery_codes(
        self, user_id: str, code_hashes: Sequence[str], keep_sid: str | None, audit: Sequence[AuditEvent], at: float
    ) -> list[Session] | None:
        """None (and nothing changed) when the user has no factor; else the other sessions it ended."""
        ...

    async def has_second_factor(self, user_id: str) -> bool: ...

    async def reset_factors(self, user_id: str, audit: Sequence[AuditEvent], at: float) -> list[Session]:
        """Removes every factor and recovery code of the user and ends all of the user's sessions."""
        ...


class DurableStore(UserStore, KeyStore, SessionStore, MfaStore, WebAuthnStore, AuditLog, Protocol):
    async def initialize(self) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class EphemeralStore(Protocol):
    """Short-lived shared state: throttling windows and replay caches."""

    async def add_event(self, key: str, at: float, keep_for: float) -> None: ...

    async def reserve_event(self, key: str, at: float, window: float, limit: int) -> str | None:
        """Adds an event at `at` unless `limit` events are in (at - window, at] already; the count and the add
        are one atomic step on every node sharing the store, so concurrent callers never get more than `limit`
        events into a window. The event's id (for `release_event`), or None when the window is full. The key is
        kept `window` seconds, as `add_event(key, at, window)` keeps it."""
        ...

    async def release_event(self, key: str, event_id: str) -> None:
        """Takes back an event `reserve_event` added (gone already: nothing happens)."""
        ...

    async def remember_once(self, key: str, at: float, keep_for: float) -> bool:
        """Set-if-absent: True the first time `key` is given within `keep_for` seconds of `at`, False while it
        is still remembered (a replay). Atomic across every node sharing the store."""
        ...

    async def events(self, key: str, now: float, window: float) -> list[float]: ...

    async def clear(self, key: str) -> None: ...
