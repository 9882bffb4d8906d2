"""Operating a deployment: signing keys, sessions, the audit trail, the configuration, the database schema."""

from __future__ import annotations

from typing import Annotated

import anyio
import typer

from sessionward.cli._common import (
    EXIT_UNCHECKED,
    ConfigOpt,
    DataDirOpt,
    audit_app,
    config_app,
    db_app,
    fail,
    failing_clearly,
    keys_app,
    out,
    print_rows,
    sessions_app,
    settings_from,
    stamp,
    user_named,
    with_services,
)
from sessionward.config import redacted_toml
from sessionward.core.audit import verify_chain
from sessionward.crypto.kek import Kek, KekRing
from sessionward.crypto.kek_source import write_kek_file
from sessionward.errors import NotFound
from sessionward.services.container import Services, kek_location_of
from sessionward.stores.sql import SqlStore


@keys_app.command("list")
def keys_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List signing keys: kid, alg, state."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> None:
        ring = await svc.keyring.reload()
        now = svc.clock.now()
        rows = [("KID", "ALG", "STATE", "CREATED", "VERIFIES UNTIL")]
        for key in ring.keys:
            state = key.state if key.verifies_at(now) else "expired"
            rows.append((key.kid, key.alg, state, stamp(key.created_at), stamp(key.verify_until)))
        print_rows(rows)

    with_services(settings, work)


@keys_app.command("rotate")
def keys_rotate(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Add a new active key per algorithm; old keys keep verifying until their tokens expire."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> None:
        for key in await svc.keyring.rotate(svc.clock.now()):
            out.print(f"new active key {key.kid} ({key.alg})", markup=False)

    with_services(settings, work)


@keys_app.command("rotate-kek")
def keys_rotate_kek(
    reencrypt: Annotated[
        bool,
        typer.Option(
            "--reencrypt",
            help="Make no new key: re-encrypt under the first key configured (storage.kek, or a kek_file this "
            "command cannot write).",
        ),
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Re-encrypt every stored secret under a new key-encryption key, in one transaction.

    With a key file (the default <data_dir>/kek, or storage.kek_file): makes a new key, writes it first in the
    file beside the old one, re-encrypts, then leaves only the new key in the file. With storage.kek (the
    environment): put the new key first in it (`keys new-kek` makes one), then run this."""
    settings = settings_from(config, data_dir)
    location = kek_location_of(settings)

    async def work(svc: Services) -> str:
        assert isinstance(svc.store, SqlStore) and svc.keks is not None
        held = svc.keks.ring()
        if reencrypt or location.kind == "env":
            done = await svc.store.rotate_kek(KekRing((held.current,)), [], svc.clock.now())
        else:
            assert location.path is not None
            new = Kek.generate()
            write_kek_file(location.path, (new, *held.keys))  # both readable until the re-encryption is done
            try:
                done = await svc.store.rotate_kek(KekRing((new,)), [], svc.clock.now())
            except BaseException:
                write_kek_file(location.path, held.keys)
                raise
            write_kek_file(location.path, (new,))
        counts = f"{done.signing_keys} signing keys and {done.totp_factors} TOTP factors"
        line = f"re-encrypted {counts} under key-encryption key {done.current} (was {done.previous})"
        unused = [kek_id for kek_id in held.ids if kek_id != done.current]
        if location.kind == "env" or reencrypt:
            if unused:
                line += f"; {', '.join(unused)} may now be removed from {location.describe()}"
            elif done.previous == done.current:
                line += f"; to change the key, put a new one (keys new-kek) first in {location.describe()}"
        return line

    out.print(with_services(settings, work), markup=False, highlight=False)


@keys_app.command("new-kek")
def keys_new_kek() -> None:
    """Print a new random key-encryption key (for storage.kek or a kek_file); nothing is stored."""
    out.print(Kek.generate().text, markup=False, highlight=False)


@sessions_app.command("list")
def sessions_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's sessions.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List live sessions: sid, user, client, created, last active, expires, ip."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> list[tuple[str, ...]]:
        users = [await user_named(svc, user)] if user is not None else await svc.store.list_users()
        rows: list[tuple[str, ...]] = [("SID", "USER", "CLIENT", "CREATED", "LAST ACTIVE", "EXPIRES", "IP")]
        for found in sorted(users, key=lambda u: u.username):
            for s in await svc.sessions.alive_sessions(found.user_id):
                rows.append(
                    (
                        s.sid,
                        found.username,
                        s.client_id,
                        stamp(s.created_at),
                        stamp(s.last_active_at),
                        stamp(svc.sessions.expires_at(s)),
                        s.ip,
                    )
                )
        return rows

    print_rows(with_services(settings, work))


@sessions_app.command("revoke")
def sessions_revoke(
    user: Annotated[str | None, typer.Option("--user", help="End every session of this user.")] = None,
    sid: Annotated[str | None, typer.Option("--sid", help="End this session.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """End sessions everywhere: running servers reject their tokens within a second."""
    if (user is None) == (sid is None):
        raise fail("give exactly one of --user NAME or --sid SID", 2)
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> int:
        if sid is not None:
            ended = await svc.sessions.end_by_sid(sid, "revoked", "cli")
            if not ended:
                raise NotFound("no live session with that id")
            return len(ended)
        found = await user_named(svc, user or "")
        return len(await svc.sessions.end_all_of(found.user_id, "cli"))

    count = with_services(settings, work)
    out.print(f"ended {count} session{'s' if count != 1 else ''}", markup=False)


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Check the audit chain: exit 0 when intact, 1 naming the first bad record, 3 when it could not be read."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> tuple[bool, str]:
        records = [r async for r in svc.store.audit_records()]
        report = verify_chain(records, await svc.store.audit_head(), svc.store.audit_keying())
        if report.ok:
            return True, f"audit trail intact: {report.checked} records"
        return False, f"audit trail broken: first bad record is {report.bad_seq}: {report.problem}"

    ok, message = with_services(settings, work, unreachable_code=EXIT_UNCHECKED)
    if not ok:
        raise fail(message, 1)
    out.print(message, markup=False)


@config_app.command("show")
def config_show(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Print the effective configuration, secrets redacted."""
    out.print(redacted_toml(settings_from(config, data_dir)), markup=False, highlight=False, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Apply the schema migrations the database lacks (`serve` does too, at start) and print its revision."""
    from sessionward.services.container import database_url

    settings = settings_from(config, data_dir)

    async def run() -> str:
        store = SqlStore(database_url(settings), revocation_ttl=settings.max_access_token_ttl, pool_size=1)
        try:
            return await store.upgrade()
        finally:
            await store.close()

    with failing_clearly(settings, doing="database upgrade failed"):
        revision = anyio.run(run)
    out.print(f"database at revision {revision}", markup=False, highlight=False)
