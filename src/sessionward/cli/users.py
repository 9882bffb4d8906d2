"""`sessionward users`: create and list users, and reset a lost second factor."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sessionward.cli._common import (
    ConfigOpt,
    DataDirOpt,
    fail,
    out,
    print_rows,
    settings_from,
    stamp,
    user_named,
    users_app,
    with_services,
)
from sessionward.errors import InvalidRequest, SessionwardError
from sessionward.services.container import Services
from sessionward.services.sessions import check_new_password


def read_password() -> str:
    """One line of stdin, without its line ending; the service's rule decides whether it is a password."""
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    password = password[:-1] if password.endswith("\r") else password
    try:
        check_new_password(password)
    except InvalidRequest as exc:
        raise fail(f"the password (one line on stdin) is refused: {exc.description}") from None
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
        return await svc.mfa.reset_factors((await user_named(svc, name)).user_id, "cli")

    count = with_services(settings, work)
    out.print(
        f"reset the second factors of {name}: ended {count} session{'s' if count != 1 else ''}",
        markup=False,
        highlight=False,
    )


def _factors(totp: bool, keys: int, codes: int) -> str:
    named = (["totp"] if totp else []) + ([f"{keys} security key{'s' if keys != 1 else ''}"] if keys else [])
    if not named:
        return "none"
    return ", ".join([*named, f"{codes} recovery code{'s' if codes != 1 else ''} left"])


@users_app.command("list")
def users_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List users: name, administrator or not, when created, and their second factors (never a secret)."""
    settings = settings_from(config, data_dir)

    async def work(svc: Services) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = [("USER", "ADMIN", "CREATED", "SECOND FACTORS")]
        for user in sorted(await svc.store.list_users(), key=lambda u: u.username):
            totp = await svc.store.get_totp(user.user_id)
            keys = await svc.store.list_webauthn_credentials(user.user_id)
            codes = await svc.store.recovery_codes_left(user.user_id)
            has_totp = totp is not None and totp.secret is not None
            admin = "yes" if user.is_admin else "no"
            rows.append((user.username, admin, stamp(user.created_at), _factors(has_totp, len(keys), codes)))
        return rows

    print_rows(with_services(settings, work))
