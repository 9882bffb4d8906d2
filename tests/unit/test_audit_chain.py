"""The hash chain names the first record that was altered, removed or reordered."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from sessionward.core.audit import GENESIS_HASH, AuditEvent, AuditRecord, chain, verify_chain


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


def test_rehashing_an_altered_record_still_breaks_the_next_link() -> None:
    records = trail(4)
    forged = chain(1, records[0].hash, records[1].at, [AuditEvent("login.succeeded", {})])[0]
    records[1] = forged
    report = verify_chain(records, head(trail(4)))
    assert not report.ok
    assert report.bad_seq == 3
