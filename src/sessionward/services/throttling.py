"""Moving-window throttles over the shared ephemeral store, for every place a secret is guessed: the password
at login and at a password change, and second factors. Check before the work, count each failure, and forget a
run of failures on success (NIST SP 800-63B counts consecutive failures)."""

from __future__ import annotations

from collections.abc import Iterable

from sessionward.config import LoginSettings
from sessionward.core.names import fold_username
from sessionward.core.throttle import Window, login_windows, retry_after
from sessionward.stores.base import EphemeralStore

Keyed = tuple[str, Window]


class Throttle:
    def __init__(self, ephemeral: EphemeralStore) -> None:
        self._ephemeral = ephemeral

    async def retry_after(self, keyed: Iterable[Keyed], now: float) -> int | None:
        """Whole seconds until every window has room again; None when the attempt may go ahead now."""
        waits = []
        for key, window in keyed:
            wait = retry_after(await self._ephemeral.events(key, now, window.seconds), window, now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None

    async def count(self, keyed: Iterable[Keyed], now: float) -> None:
        for key, window in keyed:
            await self._ephemeral.add_event(key, now, window.seconds)

    async def forget(self, keyed: Iterable[Keyed]) -> None:
        for key, _window in keyed:
            await self._ephemeral.clear(key)


class PasswordGuesses:
    """The three password windows ([login]): failures per account, failures per account and address, attempts
    per address. Login and a password change share them, so a stolen session cannot guess the password any
    faster than a login can."""

    def __init__(self, throttle: Throttle, login: LoginSettings) -> None:
        self.throttle = throttle
        self._account, self._account_ip, self._ip = login_windows(
            login.max_failures_per_account,
            login.max_failures_per_account_ip,
            login.max_attempts_per_ip,
            login.failure_window,
        )

    def failures(self, username: str, ip: str) -> tuple[Keyed, Keyed]:
        """The windows a wrong password counts in (and a right one clears)."""
        account = fold_username(username)
        return (f"login:acct:{account}", self._account), (f"login:acctip:{account}|{ip}", self._account_ip)

    def attempts(self, ip: str) -> Keyed:
        """The window every attempt from an address counts in."""
        return f"login:ip:{ip}", self._ip
