"""Secrets at rest in SQL: the server secret, the encryption of clear secrets left by older versions, the check
that every stored secret opens under the configured key-encryption key, and the re-encryption of a rotation.

Functions over one Connection, run inside the store's transactions (stores/_sql_base.py). Lock order: the
server secret's row first (FOR UPDATE by a rotation and by the first start, FOR SHARE by a verb that encrypts a
new secret), then signing keys and TOTP factors (in key order), and the logs' heads last, as everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, or_, select, union, update

from sessionward.core.audit import AuditEvent
from sessionward.crypto.kek import SEALED_PREFIX, KekError, KekRing, is_sealed, kek_id_of
from sessionward.stores import schema as t

ROOT = "root"
SECRET_BYTES = 32
_ss, _k, _f = t.server_secrets, t.signing_keys, t.mfa_factors
_SEALED_LIKE = SEALED_PREFIX + "%"


def key_purpose(kid: str) -> str:
    return f"signing_key:{kid}"


def totp_purpose(user_id: str) -> str:
    """One purpose for a user's confirmed and pending secret: confirming moves the value between the columns."""
    return f"totp_secret:{user_id}"


def _root_purpose(keyed_from: int) -> str:
    # `keyed_from` is bound to the secret: moving the start of the keyed audit chain makes the secret not open.
    return f"server_secret:{ROOT}:{keyed_from}"


@dataclass(frozen=True, slots=True)
class ServerSecret:
    secret: bytes = field(repr=False)
    keyed_from: int
    kek_id: str


@dataclass(frozen=True, slots=True)
class SecretsState:
    """What a start reads before it unlocks: the server secret's row, and what the stored secrets are under."""

    root: Any
    kek_ids: frozenset[str]
    clear: bool  # a secret is stored in the clear (written before secrets were encrypted)


def read_root(conn: Connection) -> Any:
    return conn.execute(select(_ss).where(_ss.c.name == ROOT)).first()


def inspect_secrets(conn: Connection) -> SecretsState:
    root = read_root(conn)
    ids: set[str] = set()
    clear = False
    for pem in conn.execute(select(_k.c.private_pem)).scalars():
        text = bytes(pem).decode("ascii", "replace")
        kek_id = kek_id_of(text)
        if kek_id is None:
            clear = True
        else:
            ids.add(kek_id)
    columns = (_f.c.secret, _f.c.pending_secret)
    prefixes = union(*(select(func.substr(c, len(SEALED_PREFIX) + 1, 16)).where(c.like(_SEALED_LIKE)) for c in columns))
    ids.update(str(p) for p in conn.execute(prefixes).scalars())
    unsealed = or_(*(c.is_not(None) & ~c.like(_SEALED_LIKE) for c in columns))
    clear = clear or conn.execute(select(_f.c.user_id).where(unsealed).limit(1)).first() is not None
    return SecretsState(root, frozenset(ids), clear)


def open_root(row: Any, ring: KekRing) -> ServerSecret:
    keyed_from = int(row.keyed_from)
    secret = ring.open(str(row.value), _root_purpose(keyed_from))
    if len(secret) != SECRET_BYTES:
        raise KekError("the stored server secret is damaged")
    return ServerSecret(secret, keyed_from, str(row.kek_id))


def _encrypt_clear(conn: Connection, ring: KekRing) -> tuple[int, int]:
    """Encrypts what older versions stored in the clear; (signing keys, TOTP factors) encrypted."""
    keys = 0
    for row in conn.execute(select(_k.c.kid, _k.c.private_pem).order_by(_k.c.kid).with_for_update()).all():
        pem = bytes(row.private_pem)
        if not is_sealed(pem):
            sealed = ring.seal(pem, key_purpose(row.kid)).encode("ascii")
            conn.execute(update(_k).where(_k.c.kid == row.kid).values(private_pem=sealed))
            keys += 1
    factors = 0
    query = select(_f.c.user_id, _f.c.secret, _f.c.pending_secret).order_by(_f.c.user_id).with_for_update()
    for factor in conn.execute(query).all():
        values = {}
        for name in ("secret", "pending_secret"):
            value = getattr(factor, name)
            if value is not None and not is_sealed(value):
                values[name] = ring.seal(value.encode("utf-8"), totp_purpose(factor.user_id))
        if values:
            conn.execute(update(_f).where(_f.c.user_id == factor.user_id).values(**values))
            factors += 1
    return keys, factors


def bootstrap(conn: Connection, ring: KekRing, now: float) -> tuple[ServerSecret, list[AuditEvent]]:
    """The first start with secrets at rest (a new database, or one upgraded from an older version): makes the
    server secret, encrypts every clear secret, and returns the audit events to chain with the new key. When
    another process did it first, opens its secret instead (and encrypts what is still clear, if anything)."""
    # The audit head's lock serializes starts: the second one waits, then reads the secret the first made.
    head = conn.execute(select(t.audit_head.c.seq).where(t.audit_head.c.id == 1).with_for_update()).first()
    if head is None:
        raise RuntimeError("the audit trail has no head row: run `sessionward db upgrade`")
    events: list[AuditEvent] = []
    row = conn.execute(select(_ss).where(_ss.c.name == ROOT).with_for_update()).first()
    if row is not None:
        made = open_root(row, ring)
    else:
        keyed_from = int(head.seq) + 1
        secret = os.urandom(SECRET_BYTES)
        sealed = ring.seal(secret, _root_purpose(keyed_from))
        conn.execute(
            _ss.insert().values(
                name=ROOT, kek_id=ring.current.kek_id, value=sealed, keyed_from=keyed_from, created_at=now
            )
        )
        made = ServerSecret(secret, keyed_from, ring.current.kek_id)
        if keyed_from > 1:
            # A trail from before: its records stay as they were; from this one on, each is keyed.
            events.append(AuditEvent("audit.chain_keyed", {"from_seq": keyed_from, "kek_id": made.kek_id}))
    keys, factors = _encrypt_clear(conn, ring)
    if keys or factors:
        events.append(
            AuditEvent("secrets.encrypted", {"signing_keys": keys, "totp_factors": factors, "kek_id": made.kek_id})
        )
    return made, events


def locked_kek_id(conn: Connection) -> str:
    """The id of the KEK the database's secrets are under, read with a share lock so that a rotation cannot
    commit between this and the write that follows."""
    row = conn.execute(select(_ss.c.kek_id).where(_ss.c.name == ROOT).with_for_update(read=True)).first()
    if row is None:
        raise KekError("the database has no server secret yet: the store was not unlocked")
    return str(row.kek_id)


@dataclass(frozen=True, slots=True)
class Rewrapped:
    previous: str
    current: str
    signing_keys: int
    totp_factors: int


def rewrap(conn: Connection, opening: KekRing, sealing: KekRing) -> Rewrapped:
    """Re-encrypts every stored secret under `sealing`'s current KEK, in the caller's one transaction; each
    value is opened with `opening` (which holds the old key and the new)."""
    row = conn.execute(select(_ss).where(_ss.c.name == ROOT).with_for_update()).first()
    if row is None:
        raise KekError("the database has no server secret yet: start the server once first")
    root = open_root(row, opening)
    new_id = sealing.current.kek_id
    conn.execute(
        update(_ss)
        .where(_ss.c.name == ROOT)
        .values(kek_id=new_id, value=sealing.seal(root.secret, _root_purpose(root.keyed_from)))
    )
    keys = 0
    for key in conn.execute(select(_k.c.kid, _k.c.private_pem).order_by(_k.c.kid).with_for_update()).all():
        purpose = key_purpose(key.kid)
        pem = opening.open(bytes(key.private_pem).decode("ascii", "replace"), purpose)
        conn.execute(update(_k).where(_k.c.kid == key.kid).values(private_pem=sealing.seal(pem, purpose).encode()))
        keys += 1
    factors = 0
    present = or_(_f.c.secret.is_not(None), _f.c.pending_secret.is_not(None))
    query = select(_f.c.user_id, _f.c.secret, _f.c.pending_secret).where(present).order_by(_f.c.user_id)
    for factor in conn.execute(query.with_for_update()).all():
        purpose = totp_purpose(factor.user_id)
        values = {
            name: sealing.seal(opening.open(value, purpose), purpose)
            for name in ("secret", "pending_secret")
            if (value := getattr(factor, name)) is not None
        }
        conn.execute(update(_f).where(_f.c.user_id == factor.user_id).values(**values))
        factors += 1
    return Rewrapped(str(row.kek_id), new_id, keys, factors)
