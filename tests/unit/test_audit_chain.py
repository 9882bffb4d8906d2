"""The hash chain names the first record that was altered, removed or reordered."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.audit import GENESIS_HASH, AuditEvent, AuditKeying, AuditRecord, chain, verify_chain


def trail(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    for i in range(n):
        prev_seq, prev_hash = (records[-1].seq, records[-1].hash) if records else (0, GENESIS_HASH)
        records += chain(prev_seq, prev_hash, 1_800_000_000.0 + i, [AuditEvent("login.failed", {"i": i})])
    return records


def head(records: list[AuditRecord]) -> tuple[int, str] | None:
    return (records[-1].seq, records[-1].hash) if records else None


def test_intact_trail_verifies() -> None:
    records = trail(5)
    report = verify_chain(records, head(records))
    assert report.ok
    assert report.checked == 5


def test_empty_trail_verifies() -> None:
    assert verify_chain([], None).ok


@given(st.integers(2, 12), st.data())
def test_altered_record_is_named(n: int, data: st.DataObject) -> None:
    records = trail(n)
    victim = data.draw(st.integers(0, n - 1))
    records[victim] = dataclasses.replace(records[victim], data_json='{"i":999}')
    report = verify_chain(records, head(trail(n)))
    assert not report.ok
    assert report.bad_seq == victim + 1


@given(st.integers(3, 12), st.data())
def test_removed_record_is_named(n: int, data: st.DataObject) -> None:
    original = trail(n)
    victim = data.draw(st.integers(0, n - 2))
    records = original[:victim] + original[victim + 1 :]
    report = verify_chain(records, head(original))
    assert not report.ok
    assert report.bad_seq == victim + 1


def test_removing_the_last_record_shows_through_the_head() -> None:
    original = trail(4)
    report = verify_chain(original[:-1], head(original))
    assert not report.ok
    assert report.bad_seq == 4


def test_removing_the_last_record_and_rewriting_the_head_is_not_enough_if_head_missing() -> None:
    original = trail(4)
    assert not verify_chain(original, None).ok


@given(st.integers(3, 12), st.data())
def test_swapped_records_are_named(n: int, data: st.DataObject) -> None:
    records = trail(n)
    i = data.draw(st.integers(0, n - 2))
    # Swap the contents but keep the sequence numbers where they were, as an UPDATE would.
    a, b = records[i], records[i + 1]
    records[i] = dataclasses.replace(b, seq=a.seq)
    records[i + 1] = dataclasses.replace(a, seq=b.seq)
    report = verify_chain(records, head(trail(n)))
    assert not report.ok
    assert report.bad_seq == i + 1


def test_rehashing_an_altered_record_still_breaks_the_next_link_and_names_the_altered_one() -> None:
    records = trail(4)
    forged = chain(1, records[0].hash, records[1].at, [AuditEvent("login.succeeded", {})])[0]
    records[1] = forged
    report = verify_chain(records, head(trail(4)))
    assert not report.ok
    # Record 2 was edited and its own hash recomputed: record 3 still names the original, so 2 is the one.
    assert report.bad_seq == 2
    assert report.problem == "record 2 was altered (record 3 does not follow it)"


# -- the keyed chain (HMAC under a key the database does not hold) -------------------------------------------------

KEY = b"k" * 32


def keyed_trail(n: int, keyed_from: int = 1, key: bytes = KEY) -> list[AuditRecord]:
    """`n` records: plain SHA-256 below `keyed_from` (written before the upgrade), HMAC from it on."""
    records: list[AuditRecord] = []
    for i in range(n):
        prev_seq, prev_hash = (records[-1].seq, records[-1].hash) if records else (0, GENESIS_HASH)
        use = key if prev_seq + 1 >= keyed_from else None
        records += chain(prev_seq, prev_hash, 1_800_000_000.0 + i, [AuditEvent("login.failed", {"i": i})], use)
    return records


def rewritten_from(records: list[AuditRecord], n: int, key: bytes | None = None) -> list[AuditRecord]:
    """Records n.. replaced by a consistent chain of other events, as someone with write access would."""
    out = records[: n - 1]
    for i in range(n - 1, len(records)):
        prev_seq, prev_hash = (out[-1].seq, out[-1].hash) if out else (0, GENESIS_HASH)
        out += chain(prev_seq, prev_hash, records[i].at, [AuditEvent("login.succeeded", {"forged": i})], key)
    return out


def test_an_intact_keyed_trail_verifies_with_the_key_only() -> None:
    records = keyed_trail(6, keyed_from=3)
    assert verify_chain(records, head(records), AuditKeying(KEY, 3)).ok
    wrong = verify_chain(records, head(records), AuditKeying(b"w" * 32, 3))
    assert (wrong.ok, wrong.bad_seq) == (False, 3)
    assert not verify_chain(records, head(records)).ok  # nor as a plain chain


@given(st.integers(2, 10), st.data())
def test_a_record_edited_and_rehashed_is_named_keyed_or_not(n: int, data: st.DataObject) -> None:
    keyed_from = data.draw(st.integers(1, n))
    records = keyed_trail(n, keyed_from)
    victim = data.draw(st.integers(1, n))
    original = records[victim - 1]
    # The editor recomputes the record's hash the only way open to them: without the key.
    forged = chain(victim - 1, original.prev_hash, original.at, [AuditEvent("login.succeeded", {})])[0]
    records[victim - 1] = forged
    report = verify_chain(records, head(keyed_trail(n, keyed_from)), AuditKeying(KEY, keyed_from))
    assert not report.ok
    assert report.bad_seq == victim


@given(st.integers(2, 10), st.data())
def test_a_consistent_rewrite_of_the_tail_with_a_moved_head_is_caught_at_its_first_record(
    n: int, data: st.DataObject
) -> None:
    records = keyed_trail(n)
    start = data.draw(st.integers(1, n))
    forged = rewritten_from(records, start)
    # On a plain SHA-256 chain the same rewrite holds at every link and at the head: only the key tells.
    plain = rewritten_from(trail(n), start)
    assert verify_chain(plain, head(plain)).ok
    report = verify_chain(forged, head(forged), AuditKeying(KEY, 1))
    assert not report.ok
    assert report.bad_seq == start
    assert report.problem == f"record {start} was altered"


def test_records_from_before_the_key_are_checked_as_before() -> None:
    records = keyed_trail(6, keyed_from=4)
    records[1] = dataclasses.replace(records[1], data_json='{"i":999}')
    report = verify_chain(records, head(keyed_trail(6, keyed_from=4)), AuditKeying(KEY, 4))
    assert (report.ok, report.bad_seq) == (False, 2)


def test_cutting_the_trail_before_the_keyed_chain_starts_is_caught() -> None:
    records = keyed_trail(6, keyed_from=4)
    cut = records[:3]  # the keyed records removed and the head moved back onto the last plain one
    report = verify_chain(cut, head(cut), AuditKeying(KEY, 4))
    assert (report.ok, report.bad_seq) == (False, 4)
