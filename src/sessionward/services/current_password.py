"""The caller's current password, asked again for an operation as sensitive as a password change (the change
itself, binding a first second factor): checked as a login checks it, in the same throttle windows, so a stolen
session cannot guess the password any faster than the sign-in page allows."""

from __future__ import annotations

from sessionward.clock import Clock
from sessionward.core.audit import AuditEvent
from sessionward.errors import TooManyAttempts, WrongPassword
from sessionward.services.passwords import Passwords
from sessionward.services.throttling import PasswordGuesses
from sessionward.stores.base import DurableStore


class CurrentPassword:
    def __init__(self, store: DurableStore, passwords: Passwords, guesses: PasswordGuesses, clock: Clock) -> None:
        self._store = store
        self._passwords = passwords
        self._guesses = guesses
        self._clock = clock

    async def check(self, user_id: str, password: str, ip: str, refused_event: str) -> None:
        """Returns when `password` is the user's; otherwise writes `refused_event` (reason `throttled` or
        `wrong_current_password`) and raises TooManyAttempts or WrongPassword. The attempt is reserved in the
        account and account+address windows before the check; a right password clears them, as at a login."""
        user = await self._store.get_user(user_id)
        if user is None:
            raise WrongPassword("the current password is wrong")
        failures = self._guesses.failures(user.username, ip)
        throttle = self._guesses.throttle
        if await throttle.reserve(failures, self._clock.now()) is None:
            wait = await throttle.wait(failures, self._clock.now())
            refused = {"user_id": user_id, "reason": "throttled", "retry_after": wait}
            await self._store.append_audit([AuditEvent(refused_event, refused)], self._clock.now())
            raise TooManyAttempts(wait)
        if not await self._passwords.verify(user.password_hash, password):
            await self._store.append_audit(
                [AuditEvent(refused_event, {"user_id": user_id, "reason": "wrong_current_password"})],
                self._clock.now(),
            )
            raise WrongPassword("the current password is wrong")
        await throttle.forget(failures)
