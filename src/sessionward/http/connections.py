"""What a connection may cost before the app sees a request: head size, read and handshake timeouts, a cap.

uvicorn's httptools protocol (the fast one) with limits: a request line and headers beyond MAX_HEADER_BYTES
are answered 431 and the connection closed, checked after each read, so at most one read (a TLS record) beyond
the cap is ever held; a client that has not sent a whole request (head and body) within `request_read_timeout`
of its first byte (or of the TLS handshake) is cut off; a connection is closed at once when `max_connections`
are already open (both without a TLS close, which would wait for the client again). The TLS handshake and
close timeouts are set on the listening server through the event loop: uvicorn passes none, and asyncio's
defaults are 60 s and 30 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from uvicorn.loops.auto import auto_loop_factory
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers together; a larger head is answered 431 and its connection closed."""

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\nconnection: close\r\n\r\nRequest header fields too large"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    request_read_timeout: float
    tls_handshake_timeout: float
    max_connections: int


class _GuardedProtocol(HttpToolsProtocol):
    limits: ConnectionLimits  # set on the subclass made by `guarded_protocol`
    _read_timer: asyncio.TimerHandle | None = None
    _in_head = True  # the next bytes belong to a request's line and headers
    _head_bytes = 0  # how many of them have come so far

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self.logger.warning("Closed a connection: %d connections are open.", self.limits.max_connections)
            self.transport.abort()
            return
        self._arm_read_timer()  # the first request must come within the timeout too

    def data_received(self, data: bytes) -> None:
        if self._read_timer is None:
            self._arm_read_timer()
        if self._in_head:
            self._head_bytes += len(data)  # reset when a request ends: a head starting mid-read counts less
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.logger.warning("Refused a request head over %d bytes.", MAX_HEADER_BYTES)
            self.transport.write(_TOO_LARGE)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head, self._head_bytes = True, 0
        self._cancel_read_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.limits.request_read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            self._arm_read_timer()  # answering a request it has whole; a pipelined one waits its turn
            return
        self.transport.abort()  # no TLS close either: that would wait for the client again


def guarded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits`."""
    return type("GuardedProtocol", (_GuardedProtocol,), {"limits": limits})


def loop_factory(tls_handshake_timeout: float) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvicorn's event loop (uvloop when installed) whose servers give up a TLS handshake, or the TLS close
    after an answer (waiting for the client's close_notify), after the timeout."""
    new_loop = auto_loop_factory(use_subprocess=False)

    def make() -> asyncio.AbstractEventLoop:
        loop = new_loop()
        create_server = loop.create_server

        def with_handshake_timeout(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, asyncio.Server]:
            if kwargs.get("ssl") is not None:
                kwargs.setdefault("ssl_handshake_timeout", tls_handshake_timeout)
                kwargs.setdefault("ssl_shutdown_timeout", tls_handshake_timeout)
            return create_server(*args, **kwargs)

        loop.create_server = with_handshake_timeout  # type: ignore[method-assign]
        return loop

    return make
