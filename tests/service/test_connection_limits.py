"""What one client may cost before the app sees its request, tried through the real TLS server with raw sockets.

A header beyond 16 KiB is answered 431 and the connection closed, without the server buffering it; a client
that does not finish its TLS handshake or its request within the configured timeouts is cut off; connections
beyond the cap are closed, requests beyond the concurrency bound answered 503; and meanwhile others are served.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from sessionward.http.connections import MAX_HEADER_BYTES
from tests.service.conftest import Server

SHORT = {
    "SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT": "1s",
    "SESSIONWARD_SERVER__TLS_HANDSHAKE_TIMEOUT": "1s",
}
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"


@contextlib.contextmanager
def tls(server: Server, timeout: float = 5.0) -> Iterator[ssl.SSLSocket]:
    raw = socket.create_connection(("127.0.0.1", server.settings.server.port), timeout=timeout)
    with server.ssl_context().wrap_socket(raw, server_hostname="localhost") as conn:
        yield conn


def read_answer(conn: socket.socket) -> bytes:
    """One response head (and what came with it), or b"" when the server closed the connection first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def closed_within(conn: socket.socket, seconds: float, *, silently: bool = True) -> float:
    """Seconds until the server closes `conn` (EOF or reset); fails if it stays open longer, or, `silently`,
    if anything is answered first."""
    start = time.monotonic()
    conn.settimeout(seconds)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {seconds} s")
    if silently:
        assert data == b"", data[:200]
    return time.monotonic() - start


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def healthy(server: Server) -> bool:
    with tls(server) as conn:
        conn.sendall(HEALTHZ)
        return status_of(read_answer(conn)) == 200


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


@pytest.fixture
def quick(make_server: Callable[..., Server]) -> Server:
    return make_server(SHORT)


def test_a_head_beyond_16_kib_is_answered_431_before_it_ends_and_the_connection_closed(server: Server) -> None:
    with tls(server) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (64 * 1024 + 1))
        # No blank line yet: a server buffering the whole head would still be waiting for it.
        answer = read_answer(conn)
        assert status_of(answer) == 431
        assert b"connection: close" in answer.lower()
        closed_within(conn, 5, silently=False)
    assert healthy(server)


def test_a_head_just_under_the_cap_is_served(server: Server) -> None:
    with tls(server) as conn:
        padding = MAX_HEADER_BYTES - 200
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * padding + b"\r\n\r\n")
        assert status_of(read_answer(conn)) == 200


def test_a_large_body_sent_with_its_head_in_one_write_is_not_taken_for_a_large_head(server: Server) -> None:
    body = b'{"username": "nobody", "password": "' + b"p" * 1000 + b'", "pad": "' + b"x" * (48 * 1024) + b'"}'
    with tls(server) as conn:
        conn.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert status_of(read_answer(conn)) == 401  # read and judged: an unknown user


def test_a_32_mb_header_is_not_buffered(server: Server) -> None:
    before = peak_rss_kib()
    chunk = b"a" * (1 << 20)
    with tls(server, timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, ssl.SSLError):
            for _ in range(32):
                conn.sendall(chunk)
            conn.sendall(b"\r\n\r\n")
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):
            assert status_of(read_answer(conn)) == 431
    # httptools held the whole header (and a copy): the process grew by about twice its size.
    assert peak_rss_kib() - before < 16 * 1024
    assert healthy(server)


def test_a_half_sent_head_is_closed_within_the_timeout_while_others_are_served(quick: Server) -> None:
    with tls(quick) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        assert healthy(quick)  # another client meanwhile
        assert closed_within(slow, 5) < 3


def test_a_head_trickled_byte_by_byte_is_closed_at_the_timeout(quick: Server) -> None:
    with tls(quick) as slow:
        start = time.monotonic()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, ssl.SSLError):
            for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200:
                slow.sendall(bytes([byte]))
                time.sleep(0.05)
                if time.monotonic() - start > 4:
                    pytest.fail("a trickled head was still read after 4 s")
        assert time.monotonic() - start < 4


def test_a_half_sent_body_is_closed_within_the_timeout(quick: Server) -> None:
    with tls(quick) as slow:
        slow.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"user'
        )
        assert healthy(quick)
        assert closed_within(slow, 5) < 3


def test_a_connection_that_sends_nothing_after_the_handshake_is_closed(quick: Server) -> None:
    with tls(quick) as idle:
        assert closed_within(idle, 5) < 3


def test_a_connection_that_never_starts_its_handshake_is_closed(quick: Server) -> None:
    with socket.create_connection(("127.0.0.1", quick.settings.server.port), timeout=5) as raw:
        assert healthy(quick)
        assert closed_within(raw, 5) < 3


def test_keep_alive_requests_spanning_more_than_the_timeout_are_served(quick: Server) -> None:
    with tls(quick) as conn:
        for _ in range(5):  # 1.5 s on one connection: the timeout counts each request, not the connection
            conn.sendall(HEALTHZ)
            assert status_of(read_answer(conn)) == 200
            time.sleep(0.3)


def test_connections_beyond_the_cap_are_closed_and_requests_beyond_the_bound_answered_503(
    make_server: Callable[..., Server],
) -> None:
    server = make_server({"SESSIONWARD_SERVER__MAX_CONCURRENCY": "2", "SESSIONWARD_SERVER__MAX_CONNECTIONS": "3"})
    with tls(server) as first:
        first.sendall(HEALTHZ)
        assert status_of(read_answer(first)) == 200
        with tls(server) as second, tls(server) as third:
            with tls(server) as fourth:  # a fourth connection: closed as soon as its handshake ends
                closed_within(fourth, 3)
            second.sendall(HEALTHZ)  # with two connections open (here three), requests are refused
            answer = read_answer(second)
            assert status_of(answer) == 503
            assert b"connection: close" in answer.lower()
            third.sendall(HEALTHZ)
            assert status_of(read_answer(third)) == 503
    deadline = time.monotonic() + 3  # the others gone (the server notices a close a moment later): served again
    while not healthy(server):
        assert time.monotonic() < deadline, "still refused after the other connections closed"
        time.sleep(0.05)
