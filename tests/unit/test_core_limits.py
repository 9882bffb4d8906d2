"""admit: per-user and per-IP limits, reject vs evict_oldest, revoke_others; expired sessions never count."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.config import PolicySettings
from sessionward.core.limits import Admission, admit
from sessionward.core.models import Session
from sessionward.core.session import expiry_reason

T0 = 1_700_000_000.0
NOW = T0 + 20_000


def s(
    sid: str, user: str = "alice", created: float = T0, last_active: float | None = None, policy: str = "p"
) -> Session:
    return Session(
        sid=sid,
        user_id=user,
        client_id="web",
        policy=policy,
        created_at=created,
        last_active_at=NOW - 10 if last_active is None else last_active,
        auth_time=created,
        acr="pwd",
        amr=("pwd",),
        ip="192.0.2.1",
        user_agent="test",
    )


def policy(per_user: int = 3, per_ip: int = 100, mode: Literal["reject", "evict_oldest"] = "reject") -> PolicySettings:
    return PolicySettings("p", max_sessions_per_user=per_user, max_sessions_per_ip=per_ip, on_session_limit=mode)


# --- examples ---------------------------------------------------------------------------------------------------


def test_under_the_limits_nothing_ends() -> None:
    mine = [s("a"), s("b")]
    assert admit(mine, mine, "alice", policy(), NOW, revoke_others=False) == Admission()


def test_user_limit_reject() -> None:
    mine = [s("a"), s("b"), s("c")]
    assert admit(mine, [], "alice", policy(), NOW, False) == Admission((), "max_sessions_per_user")


def test_user_limit_evicts_the_oldest() -> None:
    mine = [s("b", created=T0 + 2), s("a", created=T0 + 1), s("c", created=T0 + 3)]
    assert admit(mine, [], "alice", policy(mode="evict_oldest"), NOW, False) == Admission((("a", "evicted"),))
    two = admit(mine, [], "alice", policy(per_user=2, mode="evict_oldest"), NOW, False)
    assert two == Admission((("a", "evicted"), ("b", "evicted")))


def test_eviction_ties_are_broken_by_sid() -> None:
    mine = [s("z"), s("m"), s("q")]
    assert admit(mine, [], "alice", policy(mode="evict_oldest"), NOW, False).end == (("m", "evicted"),)


def test_revoke_others_ends_every_other_session_and_is_never_refused_by_the_user_limit() -> None:
    mine = [s("a"), s("b"), s("c")]
    result = admit(mine, mine, "alice", policy(), NOW, revoke_others=True)
    assert result == Admission(tuple((x, "signed_out_elsewhere") for x in "abc"))


def test_expired_sessions_do_not_count_and_are_ended_with_their_reason() -> None:
    idle = s("idle", last_active=NOW - 1800)  # exactly at the idle deadline: dead
    old = s("old", created=NOW - 43_200)  # exactly at the absolute deadline: dead
    mine = [idle, old, s("a"), s("b")]
    result = admit(mine, [], "alice", policy(), NOW, False)
    assert result == Admission((("idle", "idle_expired"), ("old", "absolute_expired")))


def test_a_session_is_judged_by_its_own_policy() -> None:
    strict = PolicySettings("strict", idle_timeout=600, access_token_ttl=300)
    mine = [s("a", policy="strict", last_active=NOW - 700), s("b"), s("c")]
    result = admit(mine, [], "alice", policy(), NOW, False, policy_of={"strict": strict})
    assert result == Admission((("a", "idle_expired"),))


def test_ended_sessions_do_not_count() -> None:
    mine = [_ended(s("x")), s("a"), s("b")]
    assert admit(mine, [], "alice", policy(), NOW, False) == Admission()


def test_ip_limit_never_evicts_another_users_session() -> None:
    others = [s("o1", user="bob"), s("o2", user="carol")]
    result = admit([], others, "alice", policy(per_ip=2, mode="evict_oldest"), NOW, False)
    assert result == Admission((), "max_sessions_per_ip")


def test_ip_limit_evicts_the_users_own_oldest_session_at_that_address() -> None:
    mine = [s("a", created=T0 + 5), s("b", created=T0 + 1)]
    at_ip = [s("o1", user="bob", created=T0), *mine]
    result = admit(mine, at_ip, "alice", policy(per_ip=3, mode="evict_oldest"), NOW, False)
    assert result == Admission((("b", "evicted"),))


def test_ip_limit_reject() -> None:
    at_ip = [s("o1", user="bob"), s("a")]
    assert admit([s("a")], at_ip, "alice", policy(per_ip=2), NOW, False).refused_by == "max_sessions_per_ip"


def test_ip_limit_refuses_when_the_users_own_sessions_cannot_make_room() -> None:
    mine = [s("a")]
    at_ip = [s("o1", user="bob"), s("o2", user="bob"), *mine]
    result = admit(mine, at_ip, "alice", policy(per_ip=2, mode="evict_oldest"), NOW, False)
    assert result.refused_by == "max_sessions_per_ip"


def _ended(x: Session) -> Session:
    return replace(x, state="ended", ended_at=NOW - 1, end_reason="logout")


# --- properties -------------------------------------------------------------------------------------------------

session_specs = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob", "carol"]),
        st.integers(0, 50_000),  # created before NOW by this much
        st.integers(0, 3_000),  # last active before NOW by this much
        st.booleans(),  # at the login's IP
        st.booleans(),  # ended
    ),
    max_size=12,
)


@given(
    session_specs,
    st.integers(1, 4),
    st.integers(1, 6),
    st.sampled_from(["reject", "evict_oldest"]),
    st.booleans(),
)
def test_admission_properties(
    specs: list[tuple[str, int, int, bool, bool]],
    per_user: int,
    per_ip: int,
    mode: Literal["reject", "evict_oldest"],
    revoke_others: bool,
) -> None:
    p = policy(per_user, per_ip, mode)
    everyone: list[tuple[Session, bool]] = []
    for i, (user, age, idle, here, was_ended) in enumerate(specs):
        created = NOW - age
        x = s(f"s{i:02}", user, created, max(created, NOW - idle))
        everyone.append((_ended(x) if was_ended else x, here))
    mine = [x for x, _ in everyone if x.user_id == "alice"]
    at_ip = [x for x, here in everyone if here]
    result = admit(mine, at_ip, "alice", p, NOW, revoke_others)
    ended = dict(result.end)
    assert len(ended) == len(result.end)  # each session at most once
    considered = {x.sid: x for x in [*mine, *at_ip]}

    def alive(x: Session) -> bool:
        return x.state == "active" and expiry_reason(x, p, NOW) is None

    for sid, reason in ended.items():
        x = considered[sid]
        if reason in ("idle_expired", "absolute_expired"):
            assert expiry_reason(x, p, NOW) == reason
        else:  # only the user's own live sessions are ever ended for the new login
            assert x.user_id == "alice"
            assert alive(x)
            assert reason == ("signed_out_elsewhere" if revoke_others else "evicted")
    for x in considered.values():  # every timed-out session is reported with its reason
        if x.state == "active" and expiry_reason(x, p, NOW) is not None:
            assert ended[x.sid] == expiry_reason(x, p, NOW)
    if mode == "reject":
        assert "evicted" not in ended.values()
    if revoke_others:
        assert all(ended.get(x.sid) == "signed_out_elsewhere" for x in mine if alive(x))
        assert result.refused_by != "max_sessions_per_user"
    remaining_mine = [x for x in mine if alive(x) and x.sid not in ended]
    remaining_ip = [x for x in at_ip if alive(x) and x.sid not in ended]
    if result.refused_by is None:  # there is room for the new session under both limits
        assert len(remaining_mine) < per_user
        assert len(remaining_ip) < per_ip
    elif result.refused_by == "max_sessions_per_user":
        assert len([x for x in mine if alive(x)]) >= per_user
    else:
        assert len(remaining_ip) >= per_ip
    # Evicted are the oldest: user-limit evictions are the oldest of the user's live sessions, IP-limit evictions
    # the oldest of the user's remaining sessions at that address; so no kept session at the address, and (with no
    # IP sessions at all) no kept session anywhere, is older than an evicted one.
    evicted = [considered[sid] for sid, reason in ended.items() if reason == "evicted"]
    at_address = {x.sid for x in at_ip}
    for k in remaining_mine:
        if k.sid in at_address or not at_ip:
            assert all((e.created_at, e.sid) < (k.created_at, k.sid) for e in evicted)
    if evicted and not at_ip:
        assert len(evicted) == len([x for x in mine if alive(x)]) - per_user + 1


@pytest.mark.parametrize("mode", ["reject", "evict_oldest"])
def test_admitting_into_an_empty_world_never_refuses(mode: Literal["reject", "evict_oldest"]) -> None:
    assert admit([], [], "alice", policy(1, 1, mode), NOW, False) == Admission()
