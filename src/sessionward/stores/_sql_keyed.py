"""The store's secrets at rest (stores/_sql_secrets.py does the SQL): unlocking with the key-encryption key,
encrypting and decrypting the secrets the verbs store, and the re-encryption of a KEK rotation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from sessionward.core.audit import AuditEvent, AuditKeying
from sessionward.crypto.kek import KekError, KekProvider, KekRing, derive_key, kek_id_of
from sessionward.stores import _sql_secrets as secrets
from sessionward.stores._sql_base import SqlBase


class SqlKeyed(SqlBase):
    async def initialize(self) -> None:
        """Brings the schema to the newest migration; a database with a keyed audit chain is not written to
        until `unlock`."""
        await super().initialize()
        root = await self._read(secrets.read_root)
        self._keyed_trail = root is not None

    async def holds_secrets(self) -> bool:
        """Whether the database holds anything encrypted under a KEK (after `initialize`)."""
        state = await self._read(secrets.inspect_secrets)
        return state.root is not None or bool(state.kek_ids)

    async def unlock(self, keks: KekProvider, now: float) -> None:
        """Opens the server secret with the KEKs (making it, and encrypting clear secrets, on the first start
        after an upgrade) and checks that every stored secret is under a configured KEK: KekError otherwise,
        so that nothing starts half-working."""
        ring = keks.ring()
        state = await self._read(secrets.inspect_secrets)
        in_use = state.kek_ids | ({str(state.root.kek_id)} if state.root is not None else set())
        if not in_use <= set(ring.ids):
            ring = keks.reload()
        absent = sorted(in_use - set(ring.ids))
        if absent:
            raise KekError(
                f"the database's secrets are encrypted under key-encryption key {', '.join(absent)}, which is not "
                f"configured (configured: {', '.join(ring.ids)})"
            )
        if state.root is None and state.kek_ids:
            # The server secret is made in the transaction that encrypts the first secret: without it, someone
            # removed it, perhaps to restart the keyed audit chain after rewriting the trail. Fail closed.
            raise KekError(
                "the database holds encrypted secrets but not its server secret (table server_secrets): it was "
                "removed; restore the database from a backup"
            )
        if state.root is None or state.clear:

            def run(conn: Connection) -> secrets.ServerSecret:
                made, events = secrets.bootstrap(conn, ring, now)
                self._pending(conn).audit_key = derive_key(made.secret, "audit chain")
                self._append(conn, events, now)
                return made

            server_secret = await self._write(run)
        else:
            server_secret = secrets.open_root(state.root, ring)
        self._keks = keks
        self._server_secret = server_secret
        self._audit_key = derive_key(server_secret.secret, "audit chain")
        self._keyed_trail = True

    @property
    def server_secret(self) -> bytes:
        """The server secret, the root of the keys derived for other purposes (typed identifiers)."""
        if self._server_secret is None:
            raise KekError("the store was not unlocked with the key-encryption key")
        return self._server_secret.secret

    def audit_keying(self) -> AuditKeying | None:
        """What `audit verify` needs to check the keyed chain; None before `unlock`."""
        if self._server_secret is None or self._audit_key is None:
            return None
        return AuditKeying(self._audit_key, self._server_secret.keyed_from)

    # -- secrets at rest -----------------------------------------------------------------------------------

    def _ring(self) -> tuple[KekProvider, KekRing]:
        if self._keks is None:
            raise KekError("the store was not unlocked with the key-encryption key")
        return self._keks, self._keks.ring()

    def _open_secret(self, sealed: str, purpose: str) -> bytes:
        """Decrypts a stored secret; a KEK this process lacks is looked for again where the KEKs are kept
        (another process may have rotated it)."""
        keks, ring = self._ring()
        kek_id = kek_id_of(sealed)
        if kek_id is not None and kek_id not in ring:
            ring = keks.reload()
        return ring.open(sealed, purpose)

    def _seal_secret(self, conn: Connection, plaintext: bytes, purpose: str) -> str:
        """Encrypts a secret about to be stored in `conn`'s transaction, refusing to when the database has
        moved to a KEK this process does not have (its secret would be unreadable once the old key goes)."""
        keks, ring = self._ring()
        in_force = secrets.locked_kek_id(conn)
        if in_force not in ring:
            ring = keks.reload()
            if in_force not in ring:
                raise KekError(
                    f"the database's secrets were re-encrypted under key-encryption key {in_force}, which this "
                    "process does not have: restart it with that key"
                )
        return ring.seal(plaintext, purpose)

    async def rotate_kek(self, sealing: KekRing, audit: Sequence[AuditEvent], at: float) -> secrets.Rewrapped:
        """Re-encrypts every stored secret under `sealing`'s current KEK in one transaction; the store opens
        them with its own KEKs and `sealing`'s, and uses `sealing` from then on."""
        keks, ring = self._ring()
        opening = KekRing((*sealing.keys, *ring.keys))

        def run(conn: Connection) -> secrets.Rewrapped:
            done = secrets.rewrap(conn, opening, sealing)
            event = AuditEvent(
                "kek.rotated",
                {
                    "kek_id": done.current,
                    "previous": done.previous,
                    "signing_keys": done.signing_keys,
                    "totp_factors": done.totp_factors,
                },
            )
            self._append(conn, [event, *audit], at)
            return done

        done = await self._write(run)
        self._keks = _Reloading(keks, sealing)
        return done


class _Reloading:
    """The KEKs after a rotation by this process: the new ring until the provider's own source holds it."""

    def __init__(self, inner: KekProvider, ring: KekRing) -> None:
        self._inner = inner
        self._ring = ring

    def ring(self) -> KekRing:
        return self._ring

    def reload(self) -> KekRing:
        fresh = self._inner.reload()
        if fresh.current.kek_id == self._ring.current.kek_id:
            self._ring = fresh
        return self._ring
