"""SPEC section 4, on every backend: a token rotated out less than `refresh_grace` ago, however many rotations
followed it, gets the same successor it got the first time; later it is reuse, which ends that session and no other;
and what the grace keeps is forgotten once the grace has passed, so storage stays bounded.

The first tests speak to the store's verb directly (what `refresh` keeps and forgets); the others go through the
real services (core rules, sealed successors, signing) over the same backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from sessionward.clock import FakeClock
from sessionward.config import load_settings
from sessionward.core.models import RefreshToken, Session
from sessionward.errors import InvalidGrant
from sessionward.services.auth import LoginRequest
from sessionward.services.container import Services, open_services
from sessionward.services.tokens import IssuedSession, refresh_token_hash
from sessionward.stores.base import RefreshPlan
from sessionward.stores.sql import SqlStore
from tests.contract.test_store_contract import T0, a_session, a_user

pytestmark = pytest.mark.anyio
GRACE = 10.0
LEEWAY = 5.0  # the services keep a rotated token this much past its grace (clock differences between nodes)
PASSWORD = "correct horse battery staple"


def rotation(nxt: str, sid: str, at: float, forget_before: float | None) -> RefreshPlan:
    return RefreshPlan(
        audit=[],
        rotate_to=RefreshToken(nxt, sid, at),
        successor=f"successor-of-{nxt}".encode(),
        forget_rotated_before=forget_before,
    )


async def rotate_chain(store: SqlStore, first: str, sid: str, times: list[float]) -> list[str]:
    """Rotates `first` once at each of `times`, each plan forgetting what is past the grace; returns the chain."""
    chain = [first]
    for n, at in enumerate(times):
        plan = rotation(f"{sid}-gen-{n + 1}", sid, at, at - GRACE)
        await store.refresh(chain[-1], None, lambda _t, _s, plan=plan: plan, at)
        chain.append(f"{sid}-gen-{n + 1}")
    return chain


async def test_every_token_rotated_within_the_grace_is_kept_with_its_own_successor(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    chain = await rotate_chain(store, refresh.token_hash, session.sid, [T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5])
    for generation, token_hash in enumerate(chain[:-1]):
        kept = await store.get_refresh(token_hash)
        assert kept is not None, f"generation {generation} was forgotten within its grace"
        assert kept.state == "rotated"
        assert kept.rotated_at == T0 + 1 + generation
        # Its own successor, the one sealed when it was rotated out, not a later generation's.
        assert kept.successor == f"successor-of-{chain[generation + 1]}".encode()
    current = await store.get_refresh(chain[-1])
    assert current is not None and current.state == "current"


async def test_a_token_several_rotations_back_is_handed_to_the_plan_as_itself(store: SqlStore) -> None:
    """What the core decides on: the stored row (rotated_at and successor), not a family stand-in."""
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    chain = await rotate_chain(store, refresh.token_hash, session.sid, [T0 + 1, T0 + 2, T0 + 3])
    handed: list[RefreshToken | None] = []
    await store.refresh(chain[0], session.family, lambda t, _s: handed.append(t) or RefreshPlan([]), T0 + 4)
    assert handed[0] is not None
    assert handed[0].token_hash == chain[0]
    assert handed[0].rotated_at == T0 + 1
    assert handed[0].successor == f"successor-of-{chain[1]}".encode()


async def test_rotated_tokens_are_forgotten_once_their_grace_has_passed(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    other, other_refresh = a_session(user, 2)
    await store.create_session(session, refresh, [], T0)
    await store.create_session(other, other_refresh, [], T0)
    other_chain = await rotate_chain(store, other_refresh.token_hash, other.sid, [T0 + 1])
    # Many rotations, a few seconds apart: the store holds those within the grace, never more.
    times = [T0 + 3.0 * n for n in range(1, 41)]
    chain = await rotate_chain(store, refresh.token_hash, session.sid, times)
    kept = [h for h in chain if await store.get_refresh(h) is not None]
    within = [h for h, at in zip(chain, times, strict=False) if at >= times[-1] - GRACE]
    assert kept == [*within, chain[-1]]
    assert len(kept) <= GRACE / 3.0 + 2
    # A forgotten token is still this session's by its family: the plan sees an old rotated token (reuse).
    handed: list[RefreshToken | None] = []
    await store.refresh(chain[0], session.family, lambda t, _s: handed.append(t) or RefreshPlan([]), times[-1])
    assert handed[0] is not None
    assert handed[0].state == "rotated"
    assert handed[0].rotated_at is None
    # Another session's rotated token is not its to forget.
    assert await store.get_refresh(other_chain[0]) is not None


async def test_a_plan_that_names_no_bound_forgets_nothing(store: SqlStore) -> None:
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    chain = [refresh.token_hash]
    for n in range(4):
        plan = rotation(f"g{n}", session.sid, T0 + 100 * n, None)
        await store.refresh(chain[-1], None, lambda _t, _s, plan=plan: plan, T0 + 100 * n)
        chain.append(f"g{n}")
    assert all([await store.get_refresh(h) is not None for h in chain])


async def test_a_step_up_keeps_the_tokens_rotated_out_within_their_grace(store: SqlStore) -> None:
    """A step-up rotates the refresh token too; a racing tab's retry of an earlier token must not become reuse."""
    user = await a_user(store)
    session, refresh = a_session(user, 1)
    await store.create_session(session, refresh, [], T0)
    chain = await rotate_chain(store, refresh.token_hash, session.sid, [T0 + 1, T0 + 2])
    elevated = await store.elevate_session(session.sid, RefreshToken("stepped-up", session.sid, T0 + 3), [], T0 + 3)
    assert elevated is not None
    for generation, token_hash in enumerate(chain[:-1]):
        kept = await store.get_refresh(token_hash)
        assert kept is not None, f"generation {generation} was forgotten by the step-up"
        assert kept.successor == f"successor-of-{chain[generation + 1]}".encode()
    stepped_out = await store.get_refresh(chain[-1])
    assert stepped_out is not None and stepped_out.state == "rotated"
    current = await store.get_refresh("stepped-up")
    assert current is not None and current.state == "current"


# -- through the real services ------------------------------------------------------------------------------------


def services_env(database_url: str) -> dict[str, str]:
    return {
        "SESSIONWARD_STORAGE__DATABASE_URL": database_url,
        "SESSIONWARD_PASSWORDS__TIME_COST": "1",
        "SESSIONWARD_PASSWORDS__MEMORY_COST": "1024",
        "SESSIONWARD_PASSWORDS__PARALLELISM": "1",
        "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "60s",
        "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "600s",
        "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "3600s",
        "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": f"{GRACE:g}s",
        "SESSIONWARD_TOKENS__LEEWAY": f"{LEEWAY:g}s",
    }


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Services, FakeClock]]:
    clock = FakeClock(T0)
    svc = await open_services(load_settings(None, services_env(database_url), data_dir=str(tmp_path)), clock)
    await svc.keyring.ensure_keys(clock.now())
    await svc.auth.create_user("alice", PASSWORD, False, "test")
    yield svc, clock
    await svc.close()


async def sign_in(svc: Services) -> IssuedSession:
    return await svc.auth.login(LoginRequest("alice", PASSWORD, "web", "192.0.2.1", "ua"))


def pair(issued: IssuedSession) -> tuple[str, str]:
    return issued.access_token, issued.refresh_token


@pytest.mark.parametrize("later_rotations", [1, 2, 5])
async def test_a_token_within_its_grace_gets_its_own_successor_after_later_rotations(
    services: tuple[Services, FakeClock], later_rotations: int
) -> None:
    svc, clock = services
    first = await sign_in(svc)
    answered = await svc.sessions.refresh(first.refresh_token)  # what `first` got the first time
    token = answered.refresh_token
    for _ in range(later_rotations - 1):  # other tabs refresh meanwhile
        clock.advance(1)
        token = (await svc.sessions.refresh(token)).refresh_token
    clock.advance(GRACE - (later_rotations - 1))  # onto the edge of `first`'s grace, inclusive
    again = await svc.sessions.refresh(first.refresh_token)
    assert pair(again) == pair(answered)
    assert again.session.sid == first.session.sid
    # Every token of the chain still works: the retrying tab's pair, and the other tabs' newest one.
    assert (await svc.sessions.refresh(token)).session.sid == first.session.sid
    session = await svc.store.get_session(first.session.sid)
    assert session is not None and session.state == "active"


async def test_each_generation_within_its_grace_gets_the_pair_it_got_the_first_time(
    services: tuple[Services, FakeClock],
) -> None:
    svc, clock = services
    issued = await sign_in(svc)
    chain, answers = [issued.refresh_token], []
    for _ in range(5):
        clock.advance(1.5)
        answer = await svc.sessions.refresh(chain[-1])
        answers.append(pair(answer))
        chain.append(answer.refresh_token)
    clock.advance(2)
    for generation in (3, 0, 4, 1, 2, 0):  # any order, any number of times
        assert pair(await svc.sessions.refresh(chain[generation])) == answers[generation]


async def test_after_its_grace_an_old_token_is_reuse_ending_that_session_only(
    services: tuple[Services, FakeClock],
) -> None:
    svc, clock = services
    victim, bystander = await sign_in(svc), await sign_in(svc)
    chain = [victim.refresh_token]
    for _ in range(3):
        clock.advance(4)
        chain.append((await svc.sessions.refresh(chain[-1])).refresh_token)
    clock.advance(3)
    # chain[0] was rotated out 11 s ago (past its 10 s grace, still stored); chain[1] 7 s ago (within it).
    with pytest.raises(InvalidGrant):
        await svc.sessions.refresh(chain[0])
    ended = await svc.store.get_session(victim.session.sid)
    assert ended is not None and ended.state == "ended" and ended.end_reason == "refresh_reuse"
    for token in chain[1:]:
        with pytest.raises(InvalidGrant):
            await svc.sessions.refresh(token)
    assert (await svc.sessions.refresh(bystander.refresh_token)).session.sid == bystander.session.sid


async def test_past_the_grace_a_forgotten_token_is_still_reuse(services: tuple[Services, FakeClock]) -> None:
    svc, clock = services
    victim = await sign_in(svc)
    chain = [victim.refresh_token]
    for _ in range(4):
        clock.advance(GRACE + LEEWAY + 1)
        chain.append((await svc.sessions.refresh(chain[-1])).refresh_token)
    assert await svc.store.get_refresh(refresh_token_hash(chain[0])) is None  # forgotten
    with pytest.raises(InvalidGrant):
        await svc.sessions.refresh(chain[0])
    ended = await svc.store.get_session(victim.session.sid)
    assert ended is not None and ended.end_reason == "refresh_reuse"


async def test_a_busy_session_stores_only_the_tokens_within_their_grace(services: tuple[Services, FakeClock]) -> None:
    svc, clock = services
    issued = await sign_in(svc)
    chain = [issued.refresh_token]
    for _ in range(30):
        clock.advance(2)
        chain.append((await svc.sessions.refresh(chain[-1])).refresh_token)
    kept = [t for t in chain if await svc.store.get_refresh(refresh_token_hash(t)) is not None]
    # Rotated within grace + margin (15 s at one rotation per 2 s), plus the current one: never the whole chain.
    assert kept == chain[-9:]
    stored: list[Session] = await svc.store.list_sessions(issued.session.user_id)
    assert [s.sid for s in stored] == [issued.session.sid]


async def test_every_generation_presented_at_once_on_two_nodes_gets_its_own_pair(
    services: tuple[Services, FakeClock], tmp_path: Path, database_url: str
) -> None:
    """Tabs on two nodes present the current token and three rotated-out ones, each twice, all at once: the
    rotated ones get their first answers, the current one rotates once (both presentations get that pair), and the
    rotation's forgetting never takes a token still within its grace."""
    a, clock = services
    b = await open_services(load_settings(None, services_env(database_url), data_dir=str(tmp_path)), clock)
    try:
        issued = await sign_in(a)
        chain, answers = [issued.refresh_token], []
        for _ in range(3):
            clock.advance(2)
            answer = await a.sessions.refresh(chain[-1])
            answers.append(pair(answer))
            chain.append(answer.refresh_token)
        clock.advance(2)
        got: dict[tuple[int, int], tuple[str, str]] = {}

        async def present(generation: int, copy: int) -> None:
            node = a if copy % 2 == 0 else b
            got[generation, copy] = pair(await node.sessions.refresh(chain[generation]))

        async with anyio.create_task_group() as tg:
            for copy in range(2):
                for generation in range(4):
                    tg.start_soon(present, generation, copy)
        for generation in range(3):
            assert got[generation, 0] == got[generation, 1] == answers[generation]
        assert got[3, 0] == got[3, 1]
        assert got[3, 0][1] not in chain
        session = await a.store.get_session(issued.session.sid)
        assert session is not None and session.state == "active"
    finally:
        await b.close()
