"""Moving-window throttles over the shared ephemeral store, for every place a secret is guessed: the password
at login and at a password change, and second factors.

Each attempt is reserved before it is evaluated: `reserve` counts it in every window, each count-and-add one
atomic step on the store (shared by every node), and refuses it when a window is full. So a burst of concurrent
guesses gets no more of them evaluated than the windows allow: checking first and counting the failure after
the (awaited) evaluation let a burst through every check. A wrong guess keeps its reservation (it was the
failure); a right one forgets the run of failures it ends (NIST SP 800-63B counts consecutive failures), its
own reservation with it; an attempt that was never evaluated is released."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sessionward.config import LoginSettings
from sessionward.core.names import fold_username
from sessionward.core.throttle import Window, login_windows, retry_after
from sessionward.crypto.kek import keyed_digest
from sessionward.stores.base import EphemeralStore

Keyed = tuple[str, Window]


@dataclass(frozen=True, slots=True)
class Reservation:
    """The events one attempt added: (key, event id) per window."""

    events: tuple[tuple[str, str], ...]


class Throttle:
    def __init__(self, ephemeral: EphemeralStore) -> None:
        self._ephemeral = ephemeral

    async def reserve(self, keyed: Sequence[Keyed], now: float) -> Reservation | None:
        """Counts this attempt in every window before it is evaluated, in the order given; None (and nothing
        left counted) when a window is full: then `wait` says for how long. Give the narrowest window first: the
        ones before a refusing window held a place until it refused (never too many admitted, at worst a
        concurrent attempt turned away)."""
        held: list[tuple[str, str]] = []
        for key, window in keyed:
            event = await self._ephemeral.reserve_event(key, now, window.seconds, window.max_events)
            if event is None:
                await self.release(Reservation(tuple(held)))
                return None
            held.append((key, event))
        return Reservation(tuple(held))

    async def release(self, reservation: Reservation) -> None:
        """Takes an attempt back: it was never evaluated."""
        for key, event in reservation.events:
            await self._ephemeral.release_event(key, event)

    async def retry_after(self, keyed: Iterable[Keyed], now: float) -> int | None:
        """Whole seconds until every window has room again; None when the attempt may go ahead now."""
        waits = []
        for key, window in keyed:
            wait = retry_after(await self._ephemeral.events(key, now, window.seconds), window, now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None

    async def wait(self, keyed: Iterable[Keyed], now: float) -> int:
        """The Retry-After of an attempt `reserve` refused (at least a second, should the window have moved)."""
        return await self.retry_after(keyed, now) or 1

    async def forget(self, keyed: Iterable[Keyed]) -> None:
        for key, _window in keyed:
            await self._ephemeral.clear(key)


class PasswordGuesses:
    """The three password windows ([login]): failures per account, failures per account and address, attempts
    per address. Login and a password change share them, so a stolen session cannot guess the password any
    faster than a login can."""

    def __init__(self, throttle: Throttle, login: LoginSettings, identifier_key: bytes | None = None) -> None:
        self.throttle = throttle
        # The typed name goes into the shared store's keys only as a keyed digest: people type passwords into
        # the username field, and a throttle key lives in Redis for a whole window.
        self._identifier_key = identifier_key
        self._account, self._account_ip, self._ip = login_windows(
            login.max_failures_per_account,
            login.max_failures_per_account_ip,
            login.max_attempts_per_ip,
            login.failure_window,
        )

    def failures(self, username: str, ip: str) -> tuple[Keyed, Keyed]:
        """The windows a wrong password counts in (and a right one clears), the narrower first: `reserve` takes
        them in order, so a refusal by the address's window never holds a place in the account's for a moment
        (which could turn away another address's attempt while the account's window still had room)."""
        account = fold_username(username)
        if self._identifier_key is not None:
            account = keyed_digest(self._identifier_key, account)
        return (f"login:acctip:{account}|{ip}", self._account_ip), (f"login:acct:{account}", self._account)

    def attempts(self, ip: str) -> Keyed:
        """The window every attempt from an address counts in."""
        return f"login:ip:{ip}", self._ip
