"""What a connection may cost before the app sees a request: header size, read and handshake timeouts, a cap.

uvicorn's h11 protocol refuses a request line and headers beyond MAX_HEADER_BYTES (h11 raises as soon as its
buffer holds more without a complete head, so nothing larger is ever buffered); this subclass answers that
431 instead of 400, closes a connection whose client has not sent a whole request (headers and body) within
`request_read_timeout` of its first byte (or of the TLS handshake), and closes a connection at once when
`max_connections` are already open (both without a TLS close, which would wait for the client again). The
TLS handshake and close timeouts are set on the listening server through the event loop: uvicorn passes none,
and asyncio's defaults are 60 s and 30 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.loops.auto import auto_loop_factory
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers together; a larger head is answered 431 and its connection closed."""

_READING = (h11.IDLE, h11.SEND_BODY)  # the client still owes bytes of its request


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    request_read_timeout: float
    tls_handshake_timeout: float
    max_connections: int


class _GuardedH11Protocol(H11Protocol):
    limits: ConnectionLimits  # set on the subclass made by `guarded_protocol`
    _read_timer: asyncio.TimerHandle | None = None

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
        super().data_received(data)
        if self.conn.their_state not in _READING:
            self._cancel_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if len(self.conn.trailing_data[0]) <= MAX_HEADER_BYTES:
            super().send_400_response(msg)
            return
        response = h11.Response(
            status_code=431,
            headers=[(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")],
            reason=b"Request Header Fields Too Large",
        )
        for event in (response, h11.Data(data=b"Request header fields too large"), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self._read_timer = self.loop.call_later(self.limits.request_read_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.conn.their_state in _READING and not self.transport.is_closing():
            self.transport.abort()  # no TLS close either: that would wait for the client again


def guarded_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with `limits`."""
    return type("GuardedH11Protocol", (_GuardedH11Protocol,), {"limits": limits})


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
