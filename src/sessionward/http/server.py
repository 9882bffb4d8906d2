"""Running the HTTPS server: TLS 1.3 only, the certificate from config or made for localhost."""

from __future__ import annotations

import datetime
from pathlib import Path

import uvicorn

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.http.app import create_app
from sessionward.http.tls import ensure_self_signed, uvicorn_context_factory


def certificate_files(settings: Settings) -> tuple[str, str]:
    if settings.server.tls_cert:
        return settings.server.tls_cert, settings.server.tls_key
    cert, key = ensure_self_signed(Path(settings.storage.data_dir), datetime.datetime.now(datetime.UTC))
    return str(cert), str(key)


def uvicorn_config(settings: Settings, clock: Clock | None = None, log_level: str = "info") -> uvicorn.Config:
    cert, key = certificate_files(settings)
    return uvicorn.Config(
        create_app(settings, clock),
        host=settings.server.host,
        port=settings.server.port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_context_factory=uvicorn_context_factory(cert, key),
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
