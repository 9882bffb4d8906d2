"""The durable store's contract, race behaviour included, for every backend."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import anyio
import pytest

from sessionward.config import PolicySettings
from sessionward.core.audit import AuditEvent, verify_chain
from sessionward.core.limits import Admission, admit
from sessionward.core.models import RefreshToken, Session, User
from sessionward.errors import Conflict
from sessionward.stores.base import RefreshPlan
from sessionward.stores.sql import SqlStore
from tests.contract.conftest import REVOCATION_TTL

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0
POLICY = PolicySettings("default", max_sessions_per_user=3)


async def a_user(store: SqlStore, name: str = "alice") -> User:
    user = User(str(uuid.uuid4()), name, "$argon2id$fake", False, T0)
    await store.create_user(user, [AuditEvent("user.created", {"user_id": user.user_id})], T0)
    return user


def a_session(user: User, n: int, at: float = T0, ip: str = "192.0.2.1") -> tuple[Session, RefreshToken]:
    sid = f"sid-{user.username}-{n}-{uuid.uuid4().hex[:6]}"
    session = Session(sid, user.user_id, "web", "default", at, at, at, "loa1", ("pwd",), ip, "ua", family=f"fam{sid}")
    return session, RefreshToken(f"hash-{sid}", sid, at)


async def audit_count(store: SqlStore) -> int:
    return len([r async for r in store.audit_records()])


async def test_usernames_are_unique(store: SqlStore) -> None:
    await a_user(store)
    with pytest.raises(Conflict):
        await a_user(store)


async def test_create_and_read_a_session(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    before = await audit_count(store)
    await store.create_session(session, refresh, [AuditEvent("session.created", {})], T0)
    assert await store.get_session(session.sid) == session
    assert [s.sid for s in await store.list_sessions(user.user_id)] == [session.sid]
    assert await audit_count(store) == before + 1
    with pytest.raises(Conflict):
        await store.create_session(session, refresh, [], T0)


async def test_an_ended_session_never_comes_back(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    ended = await store.end_sessions([session.sid], "logout", "user", [], T0 + 1)
    assert [s.sid for s in ended] == [session.sid]
    assert await store.end_sessions([session.sid], "revoked", "admin", [], T0 + 2) == []
    # A rotation planned on the ended session does not bring it back.
    plan = RefreshPlan(audit=[], rotate_to=RefreshToken("hash-new", session.sid, T0 + 3), successor=b"x")
    await store.refresh(refresh.token_hash, None, lambda _t, _s: plan, T0 + 3)
    stored = await store.get_session(session.sid)
    assert stored is not None
    assert stored.state == "ended"
    assert stored.end_reason == "logout"
    assert await store.list_sessions(user.user_id) == []


async def test_refresh_is_one_decision_at_a_time(store: SqlStore) -> None:
    """Two presentations of one token: the second plan sees the token already rotated."""
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    seen: list[str] = []

    def plan(token: RefreshToken | None, _s: Session | None) -> RefreshPlan:
        assert token is not None
        seen.append(token.state)
        if token.state == "current":
            return RefreshPlan(audit=[], rotate_to=RefreshToken(f"next-{len(seen)}", session.sid, T0), successor=b"s")
        return RefreshPlan(audit=[])

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(store.refresh, refresh.token_hash, None, plan, T0 + 1)
    assert sorted(seen) == ["current"] + ["rotated"] * 4
    rotated = await store.get_refresh(refresh.token_hash)
    assert rotated is not None
    assert rotated.successor == b"s"


async def test_older_generations_are_recognised_by_family(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    current = refresh.token_hash
    for gen in range(3):
        nxt = f"gen-{gen}"
        # Each rotation forgets what was rotated out before it (as if the grace were shorter than a second).
        plan = RefreshPlan(
            audit=[], rotate_to=RefreshToken(nxt, session.sid, T0), successor=b"s", forget_rotated_before=T0 + gen
        )
        await store.refresh(current, None, lambda _t, _s, plan=plan: plan, T0 + gen)
        current = nxt
    assert await store.get_refresh(refresh.token_hash) is None  # forgotten once past its grace
    handed: list[RefreshToken | None] = []
    await store.refresh(refresh.token_hash, session.family, lambda t, _s: handed.append(t) or RefreshPlan([]), T0 + 9)
    assert handed[0] is not None
    assert handed[0].state == "rotated"
    assert handed[0].rotated_at is None
    unknown: list[Session | None] = []
    await store.refresh("nope", "no-such-family", lambda _t, s: unknown.append(s) or RefreshPlan([]), T0)
    assert unknown == [None]


async def test_admission_holds_the_limit_under_concurrent_logins(store: SqlStore) -> None:
    user = await a_user(store)
    results: list[Admission] = []

    def decide(mine: Sequence[Session], at_ip: Sequence[Session]) -> Admission:
        return admit(mine, at_ip, user.user_id, POLICY, T0, revoke_others=False)

    async def login(n: int) -> None:
        session, refresh = a_session(user, n)
        results.append(await store.create_session(session, refresh, [], T0, admit=decide))

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(login, n)
    assert len(await store.list_sessions(user.user_id)) == 3
    assert sum(r.refused_by is None for r in results) == 3


async def test_expire_sessions_ends_idle_and_absolute_ones_with_their_reason(store: SqlStore) -> None:
    user = await a_user(store)
    idle, r1 = a_session(user, 1)
    old, r2 = a_session(user, 2, at=T0 - POLICY.absolute_timeout + 10)
    old = dataclasses.replace(old, last_active_at=T0)
    fresh, r3 = a_session(user, 3, at=T0 + POLICY.idle_timeout)
    for s, r in ((idle, r1), (old, r2), (fresh, r3)):
        await store.create_session(s, r, [], s.created_at)
    ended = await store.expire_sessions({"default": POLICY}, T0 + POLICY.idle_timeout + 1)
    reasons = {s.sid: (await store.get_session(s.sid)).end_reason for s in ended}  # type: ignore[union-attr]
    assert reasons == {idle.sid: "idle_expired", old.sid: "absolute_expired"}
    events = [r.event async for r in store.audit_records()]
    assert "session.idle_expired" in events
    assert "session.absolute_expired" in events


async def test_endings_feed_the_revocation_feed(store: SqlStore) -> None:
    user = await a_user(store)
    a, ra = a_session(user, 1)
    b, rb = a_session(user, 2)
    await store.create_session(a, ra, [], T0)
    await store.create_session(b, rb, [], T0)
    await store.end_sessions([a.sid], "logout", "user", [], T0 + 1)
    feed = await store.revocations_since(0, T0 + 1)
    assert [(e.kind, e.subject) for e in feed] == [("sid", a.sid)]
    assert feed[0].value == pytest.approx(T0 + 1 + 305.0)
    fresh, rf = a_session(user, 3)
    await store.change_password(user.user_id, "$argon2id$new", T0 + 2, fresh, rf, [], T0 + 2)
    later = await store.revocations_since(feed[-1].seq, T0 + 2)
    assert {(e.kind, e.subject) for e in later} == {("sid", b.sid), ("epoch", user.user_id)}
    assert [s.sid for s in await store.list_sessions(user.user_id)] == [fresh.sid]
    # Entries that no longer matter are not handed to a node that starts late.
    assert [e.kind for e in await store.revocations_since(0, T0 + 10_000)] == ["epoch"]


async def test_purge_forgets_long_ended_sessions_only(store: SqlStore) -> None:
    user = await a_user(store)
    gone, r1 = a_session(user, 1)
    kept, r2 = a_session(user, 2)
    live, r3 = a_session(user, 3)
    for s, r in ((gone, r1), (kept, r2), (live, r3)):
        await store.create_session(s, r, [], T0)
    await store.end_sessions([gone.sid], "logout", "user", [], T0 + 1)
    await store.end_sessions([kept.sid], "logout", "user", [], T0 + 100)
    assert await store.purge(ended_before=T0 + 50, now=T0 + 200) == 1
    assert await store.get_session(gone.sid) is None
    assert await store.get_refresh(r1.token_hash) is None
    assert await store.get_session(kept.sid) is not None
    assert await store.get_session(live.sid) is not None


async def test_every_change_is_chained_in_the_audit_trail(store: SqlStore) -> None:
    user = await a_user(store)
    s, r = a_session(user, 1)
    await store.create_session(s, r, [AuditEvent("session.created", {})], T0)
    await store.end_sessions([s.sid], "logout", "user", [AuditEvent("x", {})], T0 + 1)
    await store.append_audit([AuditEvent("login.failed", {"i": i}) for i in range(3)], T0 + 2)
    records = [rec async for rec in store.audit_records()]
    report = verify_chain(records, await store.audit_head(), store.audit_keying())
    assert report.ok
    assert report.checked == len(records) >= 7


async def test_purge_drops_a_users_epoch_once_no_token_before_it_can_live(store: SqlStore) -> None:
    user = await a_user(store)
    fresh, rf = a_session(user, 1)
    await store.change_password(user.user_id, "$argon2id$new", T0, fresh, rf, [], T0)
    await store.purge(ended_before=T0, now=T0 + REVOCATION_TTL - 1)  # a token from before T0 may still live
    assert [e.kind for e in await store.revocations_since(0, T0 + REVOCATION_TTL - 1)] == ["epoch"]
    await store.purge(ended_before=T0, now=T0 + REVOCATION_TTL + 1)
    assert await store.revocations_since(0, T0 + REVOCATION_TTL + 1) == []
