"""The second-factor verbs on every backend: each acceptance is a compare-and-set, so two nodes racing to accept
one TOTP step, one recovery code or one mfa_token accept it once."""

from __future__ import annotations

import uuid

import anyio
import pytest

from sessionward.core.audit import AuditEvent
from sessionward.core.models import MfaChallenge, User
from sessionward.stores.sql import SqlStore

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0


async def a_user(store: SqlStore) -> User:
    user = User(str(uuid.uuid4()), f"u{uuid.uuid4().hex[:8]}", "$argon2id$fake", False, T0)
    await store.create_user(user, [], T0)
    return user


async def with_factor(store: SqlStore) -> User:
    user = await a_user(store)
    await store.set_pending_totp(user.user_id, "S" * 32, [AuditEvent("mfa.totp_enrolled", {})], T0)
    ended = await store.confirm_totp(user.user_id, "S" * 32, 100, ["h1", "h2"], None, [], T0)
    assert ended == []
    return user


async def race(calls: list[object]) -> list[bool]:
    results: list[bool] = []

    async def one(call: object) -> None:
        assert callable(call)
        results.append(await call())

    async with anyio.create_task_group() as tg:
        for call in calls:
            tg.start_soon(one, call)
    return results


async def test_confirmation_is_a_compare_and_set_on_the_pending_secret(store: SqlStore) -> None:
    user = await a_user(store)
    await store.set_pending_totp(user.user_id, "A" * 32, [], T0)
    await store.set_pending_totp(user.user_id, "B" * 32, [], T0)  # replaces the unconfirmed one
    assert await store.confirm_totp(user.user_id, "A" * 32, 5, [], None, [], T0) is None
    assert await store.confirm_totp(user.user_id, "B" * 32, 5, ["h"], None, [], T0) == []
    factor = await store.get_totp(user.user_id)
    assert factor is not None and (factor.secret, factor.pending_secret, factor.last_step) == ("B" * 32, None, 5)
    assert await store.recovery_codes_left(user.user_id) == 1


async def test_concurrent_first_enrolments_leave_one_of_their_secrets_pending(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    user = await a_user(a)
    secrets = [f"{n}" * 32 for n in range(8)]
    event = [AuditEvent("mfa.totp_enrolled", {"user_id": user.user_id})]

    async def enrol(s: SqlStore, secret: str) -> bool:
        await s.set_pending_totp(user.user_id, secret, event, T0)
        return True

    # No IntegrityError from either node: the first insert and the rest update the one row.
    results = await race([lambda s=s, x=x: enrol(s, x) for s, x in zip((a, b) * 4, secrets, strict=True)])
    assert results == [True] * 8
    factor = await b.get_totp(user.user_id)
    assert factor is not None and factor.secret is None and factor.pending_secret in secrets
    enrolled = [r async for r in a.audit_records() if r.event == "mfa.totp_enrolled"]
    assert len(enrolled) == 8
    assert await a.confirm_totp(user.user_id, factor.pending_secret, 1, ["h"], None, [], T0) == []


async def test_a_totp_step_is_accepted_once_and_only_newer_ones_after_it(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    user = await with_factor(a)
    results = await race([lambda s=s: s.use_totp_step(user.user_id, "S" * 32, 101, [], T0) for s in (a, b) * 4])
    assert sorted(results) == [False] * 7 + [True]
    assert not await a.use_totp_step(user.user_id, "S" * 32, 100, [], T0)  # older
    assert not await a.use_totp_step(user.user_id, "X" * 32, 102, [], T0)  # another secret
    assert await b.use_totp_step(user.user_id, "S" * 32, 102, [], T0)


async def test_a_recovery_code_is_used_once(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = two_nodes
    user = await with_factor(a)
    results = await race([lambda s=s: s.use_recovery_code(user.user_id, "h1", [], T0) for s in (a, b) * 4])
    assert sorted(results) == [False] * 7 + [True]
    assert not await a.use_recovery_code(user.user_id, "nope", [], T0)
    other = await a_user(a)
    assert not await a.use_recovery_code(other.user_id, "h2", [], T0)  # another user's code
    assert await a.recovery_codes_left(user.user_id) == 1


async def test_an_mfa_challenge_is_consumed_once_expires_and_burns(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = two_nodes
    user = await a_user(a)
    challenge = MfaChallenge("t1", user.user_id, "web", "192.0.2.1", "ua", False, "d", T0, T0 + 300)
    await a.create_mfa_challenge(challenge, [], T0)
    assert await b.get_mfa_challenge("t1") == challenge
    results = await race([lambda s=s: s.consume_mfa_challenge("t1", T0 + 1) for s in (a, b) * 4])
    assert sorted(results) == [False] * 7 + [True]
    await a.create_mfa_challenge(MfaChallenge("t2", user.user_id, "web", "ip", "ua", False, "d", T0, T0 + 300), [], T0)
    assert not await a.consume_mfa_challenge("t2", T0 + 300)  # expired
    await a.create_mfa_challenge(MfaChallenge("t3", user.user_id, "web", "ip", "ua", False, "d", T0, T0 + 300), [], T0)
    assert [await a.reserve_mfa_attempt("t3", 2, T0) for _ in range(3)] == [1, 2, None]
    assert await a.burn_mfa_challenge("t3", [AuditEvent("mfa.token_burned", {})], T0)
    assert not await b.burn_mfa_challenge("t3", [], T0)  # once
    burned = await a.get_mfa_challenge("t3")
    assert burned is not None and (burned.state, burned.failures) == ("burned", 2)
    assert not await a.consume_mfa_challenge("t3", T0 + 1)
    assert await b.reserve_mfa_attempt("t3", 5, T0) is None  # still burned, whatever the limit
    assert await a.reserve_mfa_attempt("never-issued", 2, T0) is None
    # After the right code was taken no attempt is counted any more, and the challenge stays used, not burned.
    await a.create_mfa_challenge(MfaChallenge("t4", user.user_id, "web", "ip", "ua", False, "d", T0, T0 + 300), [], T0)
    assert await a.consume_mfa_challenge("t4", T0 + 1)
    assert await a.reserve_mfa_attempt("t4", 1, T0) is None
    assert not await a.burn_mfa_challenge("t4", [], T0)
    used = await a.get_mfa_challenge("t4")
    assert used is not None and (used.state, used.failures) == ("used", 0)


async def test_a_burst_of_attempts_reserves_at_most_the_limit_on_a_challenge(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    """30 concurrent guesses from two nodes at one mfa_token: the count and the check are one statement, so
    exactly five get a number (1 to 5) and every other one is refused before its code could be checked."""
    a, b = two_nodes
    user = await a_user(a)
    await a.create_mfa_challenge(MfaChallenge("t5", user.user_id, "web", "ip", "ua", False, "d", T0, T0 + 300), [], T0)
    got: list[int | None] = []

    async def guess(store: SqlStore) -> None:
        got.append(await store.reserve_mfa_attempt("t5", 5, T0 + 1))

    async with anyio.create_task_group() as tg:
        for store in (a, b) * 15:
            tg.start_soon(guess, store)
    assert sorted(n for n in got if n is not None) == [1, 2, 3, 4, 5]
    assert got.count(None) == 25
    # A released attempt (never checked) frees its place for one more, and only one.
    await b.release_mfa_attempt("t5", T0 + 1)
    assert [await a.reserve_mfa_attempt("t5", 5, T0 + 1) for _ in range(2)] == [5, None]
    # Expired: refused, though places are free.
    await a.release_mfa_attempt("t5", T0 + 1)
    assert await a.reserve_mfa_attempt("t5", 5, T0 + 300) is None
    left = await a.get_mfa_challenge("t5")
    assert left is not None and (left.state, left.failures) == ("pending", 4)


async def test_removing_the_factor_takes_its_recovery_codes(store: SqlStore) -> None:
    user = await with_factor(store)
    assert await store.remove_totp(user.user_id, None, [], T0) == []
    assert await store.get_totp(user.user_id) is None
    assert await store.recovery_codes_left(user.user_id) == 0
    assert await store.remove_totp(user.user_id, None, [], T0) is None
