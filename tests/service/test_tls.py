"""TLS 1.3 only: a client that offers at most TLS 1.2 fails the handshake."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.service.conftest import Server


def handshake(server: Server, maximum: ssl.TLSVersion) -> str | None:
    ctx = server.ssl_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = maximum
    port = server.settings.server.port
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.version()


def test_tls13_handshake_succeeds(server: Server) -> None:
    assert handshake(server, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"


def test_tls12_client_is_refused(server: Server) -> None:
    with pytest.raises(ssl.SSLError):
        handshake(server, ssl.TLSVersion.TLSv1_2)


def test_plain_http_gets_no_answer(server: Server) -> None:
    port = server.settings.server.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        raw.settimeout(5)
        try:
            answer = raw.recv(1024)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert b"HTTP/1.1 200" not in answer


def test_certificate_key_is_owner_only(server: Server) -> None:
    key = server.data_dir / "tls-key.pem"
    assert key.stat().st_mode & 0o077 == 0
    assert (server.data_dir / "sessionward.db").stat().st_mode & 0o077 == 0
