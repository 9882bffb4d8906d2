"""Edge refusals in the audit trail: a few per minute in full, the rest counted, whatever a flood looks like."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.audit import AuditEvent
from sessionward.core.refusals import SUMMARY_EVENT, RefusalKey, RefusalLimits, RefusalTally, address_group, refusal_key

T0 = 1_800_000_000.0  # a window boundary (divisible by 60)


def bad_token(ip: str = "203.0.113.9", reason: str = "malformed") -> RefusalKey:
    return refusal_key(AuditEvent("token.rejected", {"reason": reason, "ip": ip}))


def test_the_first_five_per_key_and_minute_are_written_then_one_summary_counts_the_rest() -> None:
    tally = RefusalTally()
    written = [tally.admit(bad_token(), T0 + i * 0.01) for i in range(500)]
    assert written == [True] * 5 + [False] * 495
    assert tally.due(T0 + 59.9) == []  # the window has not ended
    [summary] = tally.due(T0 + 60)
    assert summary.event == SUMMARY_EVENT
    assert summary.data == {
        "event": "token.rejected",
        "reason": "malformed",
        "ip": "203.0.113.9",
        "window_start": int(T0),
        "window_seconds": 60,
        "count": 495,
        "seen": 500,
    }
    assert tally.due(T0 + 120) == []  # written once, then forgotten


def test_a_new_minute_writes_five_again_and_a_key_written_whole_needs_no_summary() -> None:
    tally = RefusalTally()
    assert all(tally.admit(bad_token(), T0 + 1) for _ in range(5))
    assert tally.admit(bad_token(), T0 + 60)
    assert tally.due(T0 + 120) == []


def test_reasons_and_addresses_count_apart_but_an_ipv6_host_counts_by_its_64() -> None:
    tally = RefusalTally()
    assert all(tally.admit(bad_token(reason="expired"), T0) for _ in range(5))
    assert all(tally.admit(bad_token(ip="198.51.100.1"), T0) for _ in range(5))
    # A host with a /64 has 2**64 addresses: they are one key.
    inside = [f"2001:db8:1:2::{n:x}" for n in range(1, 20)]
    assert [tally.admit(bad_token(ip=ip), T0) for ip in inside] == [True] * 5 + [False] * 14
    assert address_group("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_group("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_group("not an address") == "not an address"
    [summary] = tally.due(T0 + 60)
    assert (summary.data["ip"], summary.data["count"]) == ("2001:db8:1:2::/64", 14)


def test_a_flood_from_many_addresses_writes_at_most_the_windows_budget() -> None:
    limits = RefusalLimits(verbatim_per_window=50, max_keys=100)
    tally = RefusalTally(limits)
    ips = [f"10.{n // 256 % 256}.{n % 256}.1" for n in range(10_000)]
    written = sum(tally.admit(bad_token(ip=ip), T0 + 1) for ip in ips for _ in range(3))
    assert written == 50
    summaries = tally.due(T0 + 60)
    # Bounded rows: one summary per kept key plus one for everything past `max_keys`.
    assert len(summaries) <= limits.max_keys + 1
    assert sum(s.data["count"] for s in summaries) == 30_000 - 50
    overflow = [s for s in summaries if s.data["ip"] == "*"]
    assert overflow and overflow[0].data["reason"] == "*"


def test_a_real_sessions_refusals_are_written_even_after_a_flood_used_the_budget() -> None:
    """A replayed DPoP proof of a validly signed token names its session: no anonymous flood crowds it out."""
    tally = RefusalTally(RefusalLimits(verbatim_per_window=10))
    for n in range(1000):
        tally.admit(bad_token(ip=f"192.0.2.{n % 250}"), T0 + 2)
    replay = refusal_key(AuditEvent("token.rejected", {"reason": "replayed", "ip": "192.0.2.1", "sid": "ab" * 16}))
    assert [tally.admit(replay, T0 + 3) for _ in range(6)] == [True] * 5 + [False]
    summary = next(s for s in tally.due(T0 + 60) if s.data.get("sid"))
    assert (summary.data["reason"], summary.data["count"]) == ("replayed", 1)


def test_an_admitted_refusal_that_could_not_be_buffered_is_counted() -> None:
    tally = RefusalTally()
    assert tally.admit(bad_token(), T0)
    tally.unwritten(bad_token(), T0)
    [summary] = tally.due(T0, everything=True)  # at shutdown: the current window too
    assert (summary.data["count"], summary.data["seen"]) == (1, 1)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["10.0.0.1", "10.0.0.2"]), st.floats(0, 300)),
        max_size=200,
    )
)
def test_every_refusal_is_either_written_or_counted_exactly_once(arrivals: list[tuple[str, str, float]]) -> None:
    tally = RefusalTally()
    written = 0
    for reason, ip, offset in sorted(arrivals, key=lambda a: a[2]):
        written += tally.admit(bad_token(ip=ip, reason=reason), T0 + offset)
    counted = sum(s.data["count"] for s in tally.due(T0 + 1000))
    assert written + counted == len(arrivals)
    assert written <= 5 * 3 * 2 * 6  # keys x windows (0..300 s spans at most 6 minute windows)
