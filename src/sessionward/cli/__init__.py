"""The `sessionward` command: serve, and manage the same state the server uses."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from sessionward.cli import operations, users  # noqa: F401 -- registers their commands
from sessionward.cli._common import ConfigOpt, DataDirOpt, app, failing_clearly, out, settings_from, with_services

__all__ = ["app", "main"]


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
    with failing_clearly(settings):
        server = uvicorn.Server(uvicorn_config(settings))  # reads the TLS files: a bad one stops here
    # A store that cannot be reached stops the start with one line, not with the lifespan's traceback.
    with_services(settings, lambda svc: svc.ping())
    out.print(f"sessionward serving {settings.server.issuer_url}", markup=False, highlight=False)
    server.run()


def main() -> None:
    # Everything this process writes (database, keys, certificate) is for its owner only.
    os.umask(0o077)
    app()
