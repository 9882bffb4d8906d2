"""Running the HTTPS server: TLS 1.3 only, the certificate from config or made for localhost."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path

import uvicorn

from sessionward.clock import Clock
from sessionward.config import Settings
from sessionward.errors import ConfigError
from sessionward.http.app import create_app
from sessionward.http.connections import ConnectionLimits, guarded_protocol, loop_factory
from sessionward.http.tls import ensure_self_signed, tls13_context


def certificate_files(settings: Settings) -> tuple[str, str]:
    if settings.server.tls_cert:
        return settings.server.tls_cert, settings.server.tls_key
    cert, key = ensure_self_signed(Path(settings.storage.data_dir), datetime.datetime.now(datetime.UTC))
    return str(cert), str(key)


def _tls(settings: Settings) -> tuple[str, str, ssl.SSLContext]:
    """The certificate and key files and their TLS 1.3 context; a file that cannot be read or used is a
    ConfigError naming its key."""
    own = bool(settings.server.tls_cert)
    cert_key, key_key = ("server.tls_cert", "server.tls_key") if own else ("storage.data_dir", "storage.data_dir")
    try:
        cert, key = certificate_files(settings)
    except OSError as exc:
        raise ConfigError("storage.data_dir", f"cannot make the self-signed certificate: {_reason(exc)}") from exc
    for name, path in ((cert_key, cert), (key_key, key)):
        try:
            open(path, "rb").close()  # only whether it can be read: OpenSSL reads it
        except OSError as exc:
            raise ConfigError(name, f"cannot read {path}: {_reason(exc)}") from exc
    try:
        return cert, key, tls13_context(cert, key)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(key_key, f"the key in {key} does not match the certificate in {cert}") from exc
        if not _has_certificate(cert):
            raise ConfigError(cert_key, f"{cert} holds no PEM certificate") from exc
        raise ConfigError(key_key, f"{key} holds no usable PEM private key") from exc


def _has_certificate(path: str) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError):
        return False
    return True


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def uvicorn_config(settings: Settings, clock: Clock | None = None, log_level: str = "info") -> uvicorn.Config:
    """Raises ConfigError, naming the key, when the TLS files cannot be read or used.

    httptools alone buffered a header of any size (a 64 MB one was read whole and answered 200); the guarded
    protocol refuses a head beyond MAX_HEADER_BYTES. (h11 refuses one too, but cost twice the CPU per request.)"""
    cert, key, context = _tls(settings)
    server = settings.server
    limits = ConnectionLimits(server.request_read_timeout, server.tls_handshake_timeout, server.max_connections)
    config = uvicorn.Config(
        create_app(settings, clock),
        host=server.host,
        port=server.port,
        http=guarded_protocol(limits),
        limit_concurrency=server.max_concurrency,
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_context_factory=lambda _config, _default: context,
        log_level=log_level,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    # uvicorn takes a loop factory as well as the name of one (it imports only strings).
    config.loop = loop_factory(server.tls_handshake_timeout)  # type: ignore[assignment]
    return config
