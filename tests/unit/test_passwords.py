"""Argon2id: an unknown user costs a full verification; changed parameters are detected for rehashing."""

from __future__ import annotations

import anyio
import pytest
from argon2 import PasswordHasher

from sessionward.config import PasswordSettings
from sessionward.services.passwords import Passwords

FAST = PasswordSettings(time_cost=1, memory_cost=1024, parallelism=1)


class CountingHasher:
    """Wraps the real argon2 hasher and counts verifications (a spy over pure logic)."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verifications = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verifications += 1
        return self.real.verify(stored, password)

    def hash(self, password: str) -> str:
        return self.real.hash(password)


class CountingPasswords(Passwords):
    def __init__(self, params: PasswordSettings) -> None:
        super().__init__(params)
        self.spy = CountingHasher(self._hasher)
        self._hasher = self.spy  # type: ignore[assignment]

    @property
    def verifications(self) -> int:
        return self.spy.verifications


@pytest.mark.parametrize("known", [True, False])
def test_unknown_user_and_wrong_password_cost_one_verification_each(known: bool) -> None:
    pw = CountingPasswords(FAST)
    stored = pw.hash_sync("the right password") if known else None
    assert anyio.run(pw.verify, stored, "a wrong password") is False
    assert pw.verifications == 1


def test_the_right_password_verifies_and_an_unknown_user_never_does() -> None:
    pw = Passwords(FAST)
    stored = pw.hash_sync("the right password")
    assert anyio.run(pw.verify, stored, "the right password") is True
    # The timing equalizer's own password must not log anyone in.
    assert anyio.run(pw.verify, None, "sessionward-timing-equalizer") is False


def test_garbage_hashes_do_not_verify() -> None:
    pw = Passwords(FAST)
    for junk in ("", "not a hash", "$argon2id$v=19$m=1,t=1,p=1$$"):
        assert anyio.run(pw.verify, junk, "x") is False
        assert pw.needs_rehash(junk)


def test_changed_parameters_call_for_a_rehash() -> None:
    old = Passwords(FAST).hash_sync("pw")
    assert not Passwords(FAST).needs_rehash(old)
    assert Passwords(PasswordSettings(time_cost=2, memory_cost=1024, parallelism=1)).needs_rehash(old)
