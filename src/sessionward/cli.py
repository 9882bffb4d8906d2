"""The `sessionward` command: serve, and manage the same state the server uses."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from rich.console import Console

from sessionward.config import Settings, load_settings, redacted_toml
from sessionward.core.audit import verify_chain
from sessionward.errors import ConfigError, NotFound, SessionwardError
from sessionward.services.container import Services, open_services

app = typer.Typer(no_args_is_help=True, add_completion=False, help="sessionward: the session authority.")
users_app = typer.Typer(no_args_is_help=True, help="Manage users.")
keys_app = typer.Typer(no_args_is_help=True, help="List and rotate signing keys.")
audit_app = typer.Typer(no_args_is_help=True, help="Check the audit trail.")
config_app = typer.Typer(no_args_is_help=True, help="Show the effective configuration.")
sessions_app = typer.Typer(no_args_is_help=True, help="Inspect and end sessions.")
db_app = typer.Typer(no_args_is_help=True, help="Manage the database schema.")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(config_app, name="config")
app.add_typer(sessions_app, name="sessions")
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file.")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="State directory (default ./.sessionward).")]

T = TypeVar("T")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"sessionward: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_from(config: Path | None, data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, data_dir=str(data_dir) if data_dir else None, **overrides)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}", 2) from None


def with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        svc = await open_services(settings)
        try:
            return await work(svc)
        finally:
            await svc.close()

    try:
        return anyio.run(run)
    except SessionwardError as exc:
        raise fail(exc.description) from None


def print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    """Plain aligned columns: readable, and never truncated for a script that parses them."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def stamp(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else "-"


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the HTTPS service (TLS 1.3 only)."""
    import uvicorn

    from sessionward.http.server import uvicorn_config

    settings = settings_from(config, data_dir, host=host, port=port)
    out.print(f"sessionward serving {settings.server.issuer_url}", markup=False, highlight=False)
    uvicorn.Server(uvicorn_config(settings)).run()


def read_password() -> str:
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    if len(password) < MIN_PASSWORD_LENGTH:
        raise fail(f"the password (one line on stdin) must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise fail(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    return password


@users_app.command("add")
def users_add(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a user; the password is read from stdin (one line)."""
    from sessionward.core.names import check_username

    settings = settings_from(config, data_dir)
    try:
        check_username(name)
    except SessionwardError as exc:
        raise fail(exc.description) from None
    password = read_password()
    user = with_services(settings, lambda svc: svc.auth.create_user(name, password, admin, "cli"))
    out.print(f"created user {user.username} ({user.user_id}){' as admin' if admin else ''}", markup=False)


@users_app.command("reset-mfa")
def users_reset_mfa(name: str, config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """A lost second factor: remove every factor and recovery code of the user and end all their sessions.

    The user then signs in with the password alone and enrols again. Does not ask for confirmation."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> int:
        found = await svc.store.get_user_by_name(name)
        if found is None:
            raise NotFound(f"no user {name!r}")
        return await svc.mfa.reset_factors(found.user_id, "cli")

    count = with_services(settings, work)
    out.print(
        f"reset the second factors of {name}: ended {count} session{'s' if count != 1 else ''}",
        markup=False,
        highlight=False,
    )


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


@sessions_app.command("list")
def sessions_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's sessions.")] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List live sessions: sid, user, client, created, last active, expires, ip."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> list[tuple[str, ...]]:
        names = {u.user_id: u.username for u in await svc.store.list_users()}
        if user is not None and user not in names.values():
            raise NotFound(f"no user {user!r}")
        rows: list[tuple[str, ...]] = [("SID", "USER", "CLIENT", "CREATED", "LAST ACTIVE", "EXPIRES", "IP")]
        for user_id, name in sorted(names.items(), key=lambda item: item[1]):
            if user is not None and name != user:
                continue
            for s in await svc.sessions.alive_sessions(user_id):
                rows.append(
                    (
                        s.sid,
                        name,
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
        found = await svc.store.get_user_by_name(user or "")
        if found is None:
            raise NotFound(f"no user {user!r}")
        return len(await svc.sessions.end_all_of(found.user_id, "cli"))

    count = with_services(settings, work)
    out.print(f"ended {count} session{'s' if count != 1 else ''}", markup=False)


@audit_app.command("verify")
def audit_verify(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Check the audit chain: exit 0 when intact, 1 naming the first bad record."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> tuple[bool, str]:
        report = verify_chain([r async for r in svc.store.audit_records()], await svc.store.audit_head())
        if report.ok:
            return True, f"audit trail intact: {report.checked} records"
        return False, f"audit trail broken: first bad record is {report.bad_seq}: {report.problem}"

    ok, message = with_services(settings, work)
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
    from sqlalchemy.exc import SQLAlchemyError

    from sessionward.services.container import database_url
    from sessionward.stores.sql import SqlStore

    settings = settings_from(config, data_dir)

    async def run() -> str:
        store = SqlStore(database_url(settings), revocation_ttl=settings.max_access_token_ttl, pool_size=1)
        try:
            return await store.upgrade()
        finally:
            await store.close()

    try:
        revision = anyio.run(run)
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}", 2) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(f"database upgrade failed: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}") from None
    out.print(f"database at revision {revision}", markup=False, highlight=False)


def main() -> None:
    # Everything this process writes (database, keys, certificate) is for its owner only.
    os.umask(0o077)
    app()
