"""What every command shares: the sub-apps, the options, settings and services, failing clearly, printing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import typer
from rich.console import Console

from sessionward.config import Settings, load_settings
from sessionward.errors import ConfigError, SessionwardError
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
