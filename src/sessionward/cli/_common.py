"""What every command shares: the sub-apps, the options, settings and services, failing clearly, printing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import typer
from rich.console import Console

from sessionward.config import Settings, load_settings, redact_url
from sessionward.core.models import User
from sessionward.errors import ConfigError, NotFound, SessionwardError, Unavailable
from sessionward.services.container import Services, database_url, open_services

# A failure the commands do not expect is a bug: a plain traceback, short enough to paste into a report.
app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="sessionward: the session authority.",
)
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
# `audit verify` could not read the trail (a store is unreachable): not the same answer as "the chain is broken".
EXIT_UNCHECKED = 3


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"sessionward: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def settings_from(config: Path | None, data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, data_dir=str(data_dir) if data_dir else None, **overrides)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}", 2) from None


def with_services(settings: Settings, work: Callable[[Services], Awaitable[T]], unreachable_code: int = 1) -> T:
    async def run() -> T:
        svc = await open_services(settings)
        try:
            return await work(svc)
        finally:
            await svc.close()

    with failing_clearly(settings, unreachable_code):
        return anyio.run(run)


@contextmanager
def failing_clearly(settings: Settings, unreachable_code: int = 1, doing: str = "") -> Iterator[None]:
    """The one place a command's failure becomes one line on stderr and an exit status, never a traceback:
    a bad configuration exits 2, a store that cannot be used `unreachable_code`, a refused operation 1.
    `doing` ("database upgrade failed") leads the line of a store failure."""
    try:
        yield
    except ConfigError as exc:
        raise fail(f"configuration error: {exc}", 2) from None
    except _store_errors() as exc:
        raise fail(_unreachable(settings, exc, doing), unreachable_code) from None
    except SessionwardError as exc:
        raise fail(exc.description) from None


def _store_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import SQLAlchemyError

    # Broader than the HTTP layer's infrastructure_errors(): a command has no caller to retry, so whatever the
    # database, Redis or the file system raises ends the command with its reason.
    found: list[type[Exception]] = [Unavailable, SQLAlchemyError, OSError]
    try:
        from redis.exceptions import RedisError
    except ImportError:  # Redis is optional until a redis_url is configured
        pass
    else:
        found.append(RedisError)
    return tuple(found)


def _unreachable(settings: Settings, exc: Exception, doing: str) -> str:
    """What could not be used, and why, in one line and without the password of any URL."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, Unavailable):
        return f"{doing}: {exc.description}" if doing else exc.description
    reason = str(getattr(exc, "orig", None) or exc)
    if isinstance(exc, SQLAlchemyError):
        what = f"the database at {redact_url(database_url(settings))}"
    elif isinstance(exc, OSError):
        what = str(exc.filename) if exc.filename else "a backing store"
        reason = exc.strerror or reason
    else:  # Redis's own errors
        what = f"Redis at {redact_url(settings.storage.redis_url)}"
    for password in _passwords(settings.storage.database_url, settings.storage.redis_url):
        reason = reason.replace(password, "***")
    lines = reason.strip().splitlines()
    why = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return f"{doing}: {why} ({what})" if doing else f"cannot use {what}: {why}"


def _passwords(*urls: str) -> set[str]:
    found: set[str] = set()
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found |= {password, unquote(password)}
    return found


async def user_named(svc: Services, name: str) -> User:
    """The user called `name`, or NotFound."""
    found = await svc.store.get_user_by_name(name)
    if found is None:
        raise NotFound(f"no user {name!r}")
    return found


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
