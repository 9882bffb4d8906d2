"""The audit trail's hash chain: building records and checking that none was altered, removed or reordered.

Each record's hash covers its sequence number, time, event, data and the hash of the record before it, so any
change to one record breaks every link after it, and the first broken link names the record.

The hash is an HMAC-SHA256 under the audit key (derived from the server secret, which only the holder of the
key-encryption key can open) from the record `keyed_from` on: whoever can write the database but lacks the key
cannot rewrite records and compute hashes that verify. Records written before secrets were encrypted at rest
(below `keyed_from`) keep their plain SHA-256 chain and are checked as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened; never a secret (tokens, passwords) and never a raw session id."""

    event: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: float
    event: str
    data_json: str
    prev_hash: str
    hash: str


def canonical_data(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


@dataclass(frozen=True, slots=True)
class AuditKeying:
    """The audit key, and the first record chained with it."""

    key: bytes = field(repr=False)
    keyed_from: int

    def key_for(self, seq: int) -> bytes | None:
        return self.key if seq >= self.keyed_from else None


def record_hash(seq: int, at: float, event: str, data_json: str, prev_hash: str, key: bytes | None = None) -> str:
    """SHA-256 of the record's material, or its HMAC-SHA256 under `key`."""
    material = json.dumps([seq, repr(float(at)), event, data_json, prev_hash], separators=(",", ":"))
    if key is not None:
        return hmac.new(key, material.encode("ascii"), hashlib.sha256).hexdigest()
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def chain(
    prev_seq: int, prev_hash: str, at: float, events: Iterable[AuditEvent], key: bytes | None = None
) -> list[AuditRecord]:
    """The records that follow the record (prev_seq, prev_hash) for these events, all stamped `at` (chained
    with the audit key when given)."""
    records: list[AuditRecord] = []
    seq, last = prev_seq, prev_hash
    for ev in events:
        seq += 1
        data_json = canonical_data(ev.data)
        digest = record_hash(seq, at, ev.event, data_json, last, key)
        records.append(AuditRecord(seq, at, ev.event, data_json, last, digest))
        last = digest
    return records


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    bad_seq: int | None = None
    problem: str = ""


def verify_chain(
    records: Iterable[AuditRecord], head: tuple[int, str] | None, keying: AuditKeying | None = None
) -> ChainReport:
    """Walk the records in stored order; `head` is the (seq, hash) the store recorded for its newest record;
    `keying` the audit key and the record it chains from (None: a trail never keyed).

    The head catches a removal at the end of the trail, which no link inside the chain can show.
    """
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    for rec in records:
        if rec.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"record {expected_seq} is missing or out of order")
        key = keying.key_for(rec.seq) if keying is not None else None
        intact = hmac.compare_digest(
            record_hash(rec.seq, rec.at, rec.event, rec.data_json, rec.prev_hash, key), rec.hash
        )
        if rec.prev_hash != expected_prev:
            if intact and rec.seq > 1:
                # This record is whole and names another hash for the one before: that one was rewritten.
                before = rec.seq - 1
                return ChainReport(
                    False, checked - 1, before, f"record {before} was altered (record {rec.seq} does not follow it)"
                )
            return ChainReport(False, checked, rec.seq, f"record {rec.seq} does not follow record {rec.seq - 1}")
        if not intact:
            return ChainReport(False, checked, rec.seq, f"record {rec.seq} was altered")
        expected_seq, expected_prev, checked = rec.seq + 1, rec.hash, checked + 1
    last_seq = expected_seq - 1
    if keying is not None and keying.keyed_from > 1 and last_seq < keying.keyed_from:
        # The keyed chain began with a record at keyed_from, written when the trail was first keyed.
        first = keying.keyed_from
        return ChainReport(False, checked, first, f"record {first} is missing (the keyed chain starts there)")
    if head is None:
        if last_seq != 0:
            return ChainReport(False, checked, 1, "the trail's head record is missing")
    elif head != (last_seq, expected_prev if last_seq else GENESIS_HASH):
        missing = last_seq + 1 if head[0] > last_seq else head[0]
        return ChainReport(False, checked, missing, f"record {missing} is missing or altered (trail ends early)")
    return ChainReport(True, checked)


def hash_identifier(value: str) -> str:
    """Session ids and other bearer-like identifiers appear in the audit trail only as this digest."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
