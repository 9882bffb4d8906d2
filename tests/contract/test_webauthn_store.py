"""The WebAuthn verbs on every backend: a ceremony challenge is taken once (two nodes racing: one wins), only by
the user and for the purpose it was issued to and before it expires; a signature counter only moves forward; a
credential id is registered once; resetting a lost factor leaves nothing behind."""

from __future__ import annotations

import uuid

import pytest

from sessionward.core.audit import AuditEvent
from sessionward.core.models import Session, User, WebAuthnCredential
from sessionward.services.tokens import fresh_session
from sessionward.stores.sql import SqlStore
from tests.contract.test_mfa_store import T0, a_user, race, with_factor

pytestmark = pytest.mark.anyio


def a_key(user: User, credential_id: str = "") -> WebAuthnCredential:
    return WebAuthnCredential(credential_id or uuid.uuid4().hex, user.user_id, b"cose-key", 0, "key", T0)


async def a_session(store: SqlStore, user: User) -> Session:
    session, _refresh, stored = fresh_session(user.user_id, "web", "default", T0, "loa1", ("pwd",), "ip", "ua")
    await store.create_session(session, stored, [], T0)
    return session


async def test_a_challenge_is_taken_once_across_nodes(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = two_nodes
    user = await a_user(a)
    await a.create_webauthn_challenge("c1", user.user_id, "register", T0 + 300, T0)
    results = await race(
        [lambda s=s: s.take_webauthn_challenge("c1", user.user_id, "register", T0 + 1) for s in (a, b) * 4]
    )
    assert sorted(results) == [False] * 7 + [True]


async def test_a_challenge_answers_only_its_user_purpose_and_time(store: SqlStore) -> None:
    user, other = await a_user(store), await a_user(store)
    for wrong in [
        (other.user_id, "register", T0 + 1),
        (user.user_id, "step_up:x", T0 + 1),
        (user.user_id, "register", T0 + 300),
    ]:
        await store.create_webauthn_challenge("c", user.user_id, "register", T0 + 300, T0)
        assert not await store.take_webauthn_challenge("c", *wrong)
        # A wrong attempt burns the challenge: the right one cannot follow.
        assert not await store.take_webauthn_challenge("c", user.user_id, "register", T0 + 1)
    assert not await store.take_webauthn_challenge("never-issued", user.user_id, "register", T0)


async def test_live_challenges_per_user_are_bounded(store: SqlStore) -> None:
    user = await a_user(store)
    for i in range(50):
        await store.create_webauthn_challenge(f"c{i}", user.user_id, "register", T0 + 300 + i, T0)
    assert await store.take_webauthn_challenge("c49", user.user_id, "register", T0 + 1)
    assert not await store.take_webauthn_challenge("c0", user.user_id, "register", T0 + 1)  # the oldest went


async def test_the_signature_counter_only_moves_forward(two_nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = two_nodes
    user = await a_user(a)
    key = a_key(user)
    assert await a.add_webauthn_credential(key, [], None, [], T0) == []
    results = await race(
        [
            lambda s=s, n=n: s.use_webauthn_credential(key.credential_id, user.user_id, 0, n, [], T0)
            for n, s in enumerate((a, b) * 4, 1)
        ]
    )
    assert sorted(results) == [False] * 7 + [True]
    stored = await b.get_webauthn_credential(key.credential_id)
    assert stored is not None and stored.sign_count > 0 and stored.last_used_at == T0
    other = await a_user(a)
    assert not await a.use_webauthn_credential(key.credential_id, other.user_id, stored.sign_count, 99, [], T0)


async def test_a_credential_id_is_registered_once(store: SqlStore) -> None:
    user, other = await a_user(store), await a_user(store)
    assert await store.add_webauthn_credential(a_key(user, "same"), ["h"], None, [], T0) == []
    assert await store.add_webauthn_credential(a_key(other, "same"), [], None, [], T0) is None
    assert [k.user_id for k in await store.list_webauthn_credentials(other.user_id)] == []
    assert await store.recovery_codes_left(user.user_id) == 1


async def test_concurrent_registrations_of_one_credential_id_register_it_once(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    users = [await a_user(a) for _ in range(8)]
    event = [AuditEvent("mfa.webauthn_added", {})]

    async def register(s: SqlStore, user: User) -> object:
        return await s.add_webauthn_credential(a_key(user, "contested"), [f"h-{user.user_id}"], None, event, T0)

    # Never an IntegrityError: one registration wins, the rest get the None the verb promises.
    results = await race([lambda s=s, u=u: register(s, u) for s, u in zip((a, b) * 4, users, strict=True)])
    assert sorted(results, key=lambda r: r is None) == [[]] + [None] * 7
    stored = await b.get_webauthn_credential("contested")
    assert stored is not None
    owners = [u for u in users if await a.list_webauthn_credentials(u.user_id)]
    assert [u.user_id for u in owners] == [stored.user_id]
    # Only the winner's recovery codes were set, and only its audit was written.
    assert [await a.recovery_codes_left(u.user_id) for u in users].count(1) == 1
    assert await a.recovery_codes_left(stored.user_id) == 1
    assert len([r async for r in a.audit_records() if r.event == "mfa.webauthn_added"]) == 1


async def test_recovery_codes_go_with_the_last_factor_only(store: SqlStore) -> None:
    user = await with_factor(store)  # TOTP with two recovery codes
    key = a_key(user)
    assert await store.add_webauthn_credential(key, [], None, [], T0) == []
    assert await store.has_second_factor(user.user_id)
    assert await store.remove_totp(user.user_id, None, [], T0) == []
    assert await store.recovery_codes_left(user.user_id) == 2  # the key remains a factor
    assert await store.remove_webauthn_credential(user.user_id, "not-mine", None, [], T0) is None
    assert await store.remove_webauthn_credential(user.user_id, key.credential_id, None, [], T0) == []
    assert await store.recovery_codes_left(user.user_id) == 0
    assert not await store.has_second_factor(user.user_id)


async def test_adding_a_key_ends_the_other_sessions(store: SqlStore) -> None:
    user = await a_user(store)
    keep, other = await a_session(store, user), await a_session(store, user)
    ended = await store.add_webauthn_credential(a_key(user), [], keep.sid, [], T0 + 1)
    assert [s.sid for s in ended or []] == [other.sid]


async def test_a_first_factor_may_keep_the_other_sessions(store: SqlStore) -> None:
    """`end_others=False` (the service's choice for a user's first factor): both verbs leave every session be."""
    user = await a_user(store)
    keep, other = await a_session(store, user), await a_session(store, user)
    assert await store.add_webauthn_credential(a_key(user), ["h"], keep.sid, [], T0 + 1, end_others=False) == []
    await store.set_pending_totp(user.user_id, "S" * 32, [], T0)
    added = AuditEvent("mfa.first_factor_added", {"user_id": user.user_id})
    assert await store.confirm_totp(user.user_id, "S" * 32, 1, [], keep.sid, [added], T0 + 1, end_others=False) == []
    for s in (keep, other):
        after = await store.get_session(s.sid)
        assert after is not None and after.state == "active"
    assert [r.event async for r in store.audit_records()][-1] == "mfa.first_factor_added"


async def test_reset_removes_every_factor_and_ends_every_session(store: SqlStore) -> None:
    user = await with_factor(store)
    await store.add_webauthn_credential(a_key(user), [], None, [], T0)
    await store.create_webauthn_challenge("c", user.user_id, "register", T0 + 300, T0)
    sessions = [await a_session(store, user), await a_session(store, user)]
    ended = await store.reset_factors(user.user_id, [AuditEvent("mfa.reset", {"user_id": user.user_id})], T0 + 1)
    assert sorted(s.sid for s in ended) == sorted(s.sid for s in sessions)
    for s in sessions:
        after = await store.get_session(s.sid)
        assert after is not None and (after.state, after.end_reason) == ("ended", "mfa_reset")
    assert await store.get_totp(user.user_id) is None
    assert await store.list_webauthn_credentials(user.user_id) == []
    assert await store.recovery_codes_left(user.user_id) == 0
    assert not await store.has_second_factor(user.user_id)
    assert not await store.take_webauthn_challenge("c", user.user_id, "register", T0 + 2)
    assert await store.reset_factors(user.user_id, [], T0 + 2) == []


async def test_new_recovery_codes_need_a_factor_and_end_the_other_sessions(store: SqlStore) -> None:
    bare = await a_user(store)
    assert await store.replace_recovery_codes(bare.user_id, ["x"], None, [], T0) is None
    assert await store.recovery_codes_left(bare.user_id) == 0
    user = await with_factor(store)
    keep, other = await a_session(store, user), await a_session(store, user)
    ended = await store.replace_recovery_codes(user.user_id, ["n1", "n2", "n3"], keep.sid, [], T0 + 1)
    assert [s.sid for s in ended or []] == [other.sid]
    assert await store.recovery_codes_left(user.user_id) == 3
    assert not await store.use_recovery_code(user.user_id, "h1", [], T0 + 2)  # an old one
    assert await store.use_recovery_code(user.user_id, "n2", [], T0 + 2)
