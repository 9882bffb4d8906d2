"""Secrets at rest on every backend: what the database holds of signing keys and TOTP secrets is useless without
the key-encryption key, a rotation re-encrypts everything at once, clear secrets of an older version are encrypted
at the first start, and a wrong key stops the start instead of half-working."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, insert, select, update

from sessionward.core.audit import AuditEvent, chain, verify_chain
from sessionward.core.models import User
from sessionward.crypto.kek import Kek, KekError, KekProvider, KekRing, StaticKeks
from sessionward.crypto.kek_source import KekSource, kek_location, write_kek_file
from sessionward.crypto.keys import generate_key, private_key_pem
from sessionward.services.keyring import KeyRingService
from sessionward.stores import schema as t
from sessionward.stores.sql import SqlStore
from tests.contract.conftest import REVOCATION_TTL, TEST_KEKS
from tests.contract.test_migrations import on_database

pytestmark = pytest.mark.anyio
T0 = 1_800_000_000.0
TOTP_SECRET = pyotp.random_base32()


def keks(*keys: Kek) -> StaticKeks:
    return StaticKeks(KekRing(keys))


async def a_user(store: SqlStore) -> User:
    user = User(str(uuid.uuid4()), f"u{uuid.uuid4().hex[:8]}", "$argon2id$fake", False, T0)
    await store.create_user(user, [], T0)
    return user


async def opened(database_url: str, with_keks: KekProvider) -> SqlStore:
    store = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    await store.initialize()
    try:
        await store.unlock(with_keks, T0)
    except BaseException:
        await store.close()
        raise
    return store


def raw(database_url: str) -> tuple[list[Any], list[Any], Any]:
    """What someone reading the database alone sees: the key rows, the TOTP rows and the server secret."""

    def read(conn: Connection) -> tuple[list[Any], list[Any], Any]:
        keys = conn.execute(select(t.signing_keys)).all()
        factors = conn.execute(select(t.mfa_factors)).all()
        return keys, factors, conn.execute(select(t.server_secrets)).first()

    return on_database(database_url, read)


async def with_keys_and_totp(store: SqlStore) -> User:
    await KeyRingService(store, retire_grace=300.0).ensure_keys(T0)
    user = await a_user(store)
    await store.set_pending_totp(user.user_id, TOTP_SECRET, [], T0)
    assert await store.confirm_totp(user.user_id, TOTP_SECRET, 1, ["h"], None, [], T0) == []
    await store.set_pending_totp(user.user_id, "P" * 32, [], T0)
    return user


async def test_the_database_holds_neither_the_private_keys_nor_the_totp_secrets(
    store: SqlStore, database_url: str
) -> None:
    user = await with_keys_and_totp(store)
    keys, factors, root = raw(database_url)
    assert len(keys) == 2 and root is not None
    for row in keys:
        blob = bytes(row.private_pem)
        assert b"PRIVATE KEY" not in blob and blob.startswith(b"swk1:")
        # A token cannot be signed from what the database holds: it is not a key in any form.
        for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
            with pytest.raises((ValueError, TypeError)):
                load(blob, password=None)
    (factor,) = factors
    for column in (factor.secret, factor.pending_secret):
        assert column.startswith("swk1:")
        assert TOTP_SECRET not in column and "P" * 32 not in column
    # The store's own callers get them back whole.
    ring = await KeyRingService(store, retire_grace=300.0).reload()
    assert {k.alg for k in ring.keys} == {"ES256", "RS256"}
    found = await store.get_totp(user.user_id)
    assert found is not None and (found.secret, found.pending_secret) == (TOTP_SECRET, "P" * 32)
    assert await store.use_totp_step(user.user_id, TOTP_SECRET, 2, [], T0)
    assert not await store.use_totp_step(user.user_id, "W" * 32, 3, [], T0)  # a wrong secret matches nothing


async def test_a_secret_moved_to_another_row_does_not_open(store: SqlStore, database_url: str) -> None:
    await KeyRingService(store, retire_grace=300.0).ensure_keys(T0)
    keys, _, _ = raw(database_url)
    es, rs = sorted(keys, key=lambda r: r.alg)

    def swap(conn: Connection) -> None:
        conn.execute(update(t.signing_keys).where(t.signing_keys.c.kid == rs.kid).values(private_pem=es.private_pem))

    on_database(database_url, swap)
    with pytest.raises(KekError, match="altered or moved"):
        await store.list_keys()


async def test_another_key_encryption_key_stops_the_start_naming_the_key_in_use(
    store: SqlStore, database_url: str
) -> None:
    await with_keys_and_totp(store)
    stranger = Kek.generate()
    with pytest.raises(KekError) as caught:
        await opened(database_url, keks(stranger))
    message = str(caught.value)
    assert TEST_KEKS.ring().current.kek_id in message and stranger.kek_id in message
    assert caught.value.key == "storage.kek"
    for key in (stranger, TEST_KEKS.ring().current):
        assert key.text not in message


async def test_rotating_the_kek_re_encrypts_everything_and_the_old_key_is_no_longer_needed(
    store: SqlStore, database_url: str
) -> None:
    user = await with_keys_and_totp(store)
    old, new = TEST_KEKS.ring().current, Kek.generate()
    before_keys, _, _ = raw(database_url)
    done = await store.rotate_kek(KekRing((new,)), [], T0 + 1)
    assert (done.previous, done.current, done.signing_keys, done.totp_factors) == (old.kek_id, new.kek_id, 2, 1)
    keys, factors, root = raw(database_url)
    assert root.kek_id == new.kek_id and root.value.startswith(f"swk1:{new.kek_id}:")
    assert all(bytes(k.private_pem).startswith(f"swk1:{new.kek_id}:".encode()) for k in keys)
    assert all(v.startswith(f"swk1:{new.kek_id}:") for f in factors for v in (f.secret, f.pending_secret))
    assert {bytes(k.private_pem) for k in keys}.isdisjoint(bytes(k.private_pem) for k in before_keys)

    # The store that rotated goes on with the new key; another one needs only the new key.
    await store.set_pending_totp(user.user_id, "Q" * 32, [], T0 + 2)
    second = await opened(database_url, keks(new))
    try:
        assert len(await second.list_keys()) == 2
        factor = await second.get_totp(user.user_id)
        assert factor is not None and (factor.secret, factor.pending_secret) == (TOTP_SECRET, "Q" * 32)
        records = [r async for r in second.audit_records()]
        assert "kek.rotated" in [r.event for r in records]
        assert verify_chain(records, await second.audit_head(), second.audit_keying()).ok
    finally:
        await second.close()
    with pytest.raises(KekError, match=new.kek_id):
        await opened(database_url, keks(old))


async def test_a_process_behind_a_rotation_refuses_to_store_a_secret_under_the_old_key(
    two_nodes: tuple[SqlStore, SqlStore],
) -> None:
    a, b = two_nodes
    user = await with_keys_and_totp(a)
    await a.rotate_kek(KekRing((Kek.generate(),)), [], T0 + 1)
    # b still holds only the old key, and nowhere to read the new one from: it must not write under the old.
    with pytest.raises(KekError, match="restart it with that key"):
        await b.set_pending_totp(user.user_id, "R" * 32, [], T0 + 2)
    with pytest.raises(KekError, match="not configured"):
        await b.get_totp(user.user_id)


async def test_clear_secrets_of_an_older_version_are_encrypted_at_the_first_start(database_url: str) -> None:
    legacy = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    await legacy.initialize()  # a database as the version before left it: clear secrets, an unkeyed trail
    try:
        user = await a_user(legacy)
        await legacy.append_audit([AuditEvent("login.failed", {"i": i}) for i in range(3)], T0)
    finally:
        await legacy.close()
    key = generate_key("ES256", T0)

    def clear_rows(conn: Connection) -> None:
        conn.execute(
            insert(t.signing_keys).values(
                kid=key.kid, alg="ES256", private_pem=private_key_pem(key), created_at=T0, state="active"
            )
        )
        conn.execute(insert(t.mfa_factors).values(user_id=user.user_id, secret=TOTP_SECRET, last_step=0, created_at=T0))

    on_database(database_url, clear_rows)
    store = await opened(database_url, TEST_KEKS)
    try:
        keys, factors, root = raw(database_url)
        assert bytes(keys[0].private_pem).startswith(b"swk1:") and factors[0].secret.startswith("swk1:")
        assert root.keyed_from == 4
        assert [k.private_pem for k in await store.list_keys()] == [private_key_pem(key)]
        factor = await store.get_totp(user.user_id)
        assert factor is not None and factor.secret == TOTP_SECRET
        records = [r async for r in store.audit_records()]
        assert [r.event for r in records[3:]] == ["audit.chain_keyed", "secrets.encrypted"]
        assert verify_chain(records, await store.audit_head(), store.audit_keying()).ok
        assert not verify_chain(records, await store.audit_head()).ok  # the new records are keyed
    finally:
        await store.close()


async def test_a_store_not_unlocked_writes_nothing_into_a_keyed_trail_and_reads_no_secret(
    store: SqlStore, database_url: str
) -> None:
    user = await with_keys_and_totp(store)
    locked = SqlStore(database_url, revocation_ttl=REVOCATION_TTL)
    await locked.initialize()
    try:
        with pytest.raises(KekError, match="not unlocked"):
            await locked.append_audit([AuditEvent("login.failed", {})], T0)
        with pytest.raises(KekError, match="not unlocked"):
            await locked.list_keys()
        with pytest.raises(KekError, match="not unlocked"):
            await locked.get_totp(user.user_id)
        with pytest.raises(KekError, match="not unlocked"):
            await locked.set_pending_totp(user.user_id, "S" * 32, [], T0)
    finally:
        await locked.close()
    assert verify_chain([r async for r in store.audit_records()], await store.audit_head(), store.audit_keying()).ok


async def test_nodes_starting_at_once_make_one_server_secret(database_url: str) -> None:
    stores = [SqlStore(database_url, revocation_ttl=REVOCATION_TTL) for _ in range(4)]
    try:
        for s in stores:
            await s.initialize()
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for s in stores:
                    tg.start_soon(s.unlock, TEST_KEKS, T0)
        assert len({s.server_secret for s in stores}) == 1
        for i, s in enumerate(stores):
            await s.append_audit([AuditEvent("login.failed", {"node": i})], T0)
        records = [r async for r in stores[0].audit_records()]
        assert verify_chain(records, await stores[0].audit_head(), stores[3].audit_keying()).ok
    finally:
        for s in stores:
            await s.close()


async def test_a_running_node_follows_a_rotation_of_the_key_file(database_url: str, tmp_path: Path) -> None:
    """`keys rotate-kek` in another process: the running node reads the file again and goes on."""
    path = tmp_path / "kek"
    old, new = Kek.generate(), Kek.generate()
    write_kek_file(path, (old,))
    location = kek_location("", str(path), str(tmp_path))
    node = await opened(database_url, KekSource(location))
    cli = await opened(database_url, KekSource(location))
    try:
        user = await with_keys_and_totp(node)
        write_kek_file(path, (new, old))
        await cli.rotate_kek(KekRing((new,)), [], T0 + 1)
        write_kek_file(path, (new,))
        assert len(await node.list_keys()) == 2
        await node.set_pending_totp(user.user_id, "N" * 32, [], T0 + 2)
        _, factors, _ = raw(database_url)
        assert factors[0].pending_secret.startswith(f"swk1:{new.kek_id}:")
        await node.append_audit([AuditEvent("login.failed", {})], T0 + 3)
        records = [r async for r in node.audit_records()]
        assert verify_chain(records, await node.audit_head(), node.audit_keying()).ok
    finally:
        await node.close()
        await cli.close()


async def test_a_rewrite_of_the_stored_trail_without_the_key_is_named_at_its_first_record(
    store: SqlStore, database_url: str
) -> None:
    for i in range(6):
        await store.append_audit([AuditEvent("login.failed", {"i": i})], T0 + i)
    records = [r async for r in store.audit_records()]

    def rewrite(conn: Connection) -> None:
        prev_seq, prev_hash = records[2].seq, records[2].hash
        for rec in records[3:]:
            (forged,) = chain(prev_seq, prev_hash, rec.at, [AuditEvent("login.succeeded", {"i": rec.seq})])
            conn.execute(
                update(t.audit_log)
                .where(t.audit_log.c.seq == rec.seq)
                .values(event=forged.event, data=forged.data_json, prev_hash=forged.prev_hash, hash=forged.hash)
            )
            prev_seq, prev_hash = forged.seq, forged.hash
        conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=prev_seq, hash=prev_hash))

    on_database(database_url, rewrite)
    forged = [r async for r in store.audit_records()]
    report = verify_chain(forged, await store.audit_head(), store.audit_keying())
    assert (report.ok, report.bad_seq) == (False, 4)


async def test_removing_the_server_secret_does_not_restart_the_keyed_chain(store: SqlStore, database_url: str) -> None:
    """Someone rewrites the whole trail with plain hashes and deletes the server secret, hoping the next start
    takes the trail for one from before the upgrade: the start refuses."""
    await with_keys_and_totp(store)
    on_database(database_url, lambda conn: conn.execute(t.server_secrets.delete()))
    with pytest.raises(KekError, match="removed"):
        await opened(database_url, TEST_KEKS)
