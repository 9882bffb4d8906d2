"""Revocations over Redis pub/sub: one JSON message per publication, one subscriber connection per node.

Message (UTF-8 JSON): {"v": 1, "entries": [{"kind": "sid"|"epoch", "subject": str, "value": float, "seq": int}]}.
Readers ignore keys they do not know; a message of another version, or with any malformed entry, is dropped
whole with a warning that never shows the payload (it names sessions and users).

Pub/sub is fire-and-forget: a node misses what is published while it is not subscribed. `on_state` says when
that may happen, and the store's revocation feed, polled regardless, fills the gap.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from sessionward.core.models import Revocation

log = logging.getLogger("sessionward.redis")

MESSAGE_VERSION = 1
DEFAULT_CHANNEL = "sessionward:revocations"
# Reconnect delays: 50 ms doubling to 1 s, each drawn from [delay / 2, delay]. A subscription that lasted
# BACKOFF_MAX starts the next series from BACKOFF_MIN again.
BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0
# Liveness of a quiet subscription: PING after IDLE_PING seconds of silence; no reply within REPLY_WAIT means lost
# (a half-open TCP connection otherwise looks like a quiet channel for minutes).
IDLE_PING = 5.0
REPLY_WAIT = 2.0


class MalformedMessage(ValueError):
    """The reason says what is wrong, never what the message held."""


def encode(entries: Sequence[Revocation]) -> bytes:
    body = {
        "v": MESSAGE_VERSION,
        "entries": [{"kind": e.kind, "subject": e.subject, "value": e.value, "seq": e.seq} for e in entries],
    }
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> Any:
    raise MalformedMessage(f"non-finite number {name}")


def decode(data: bytes) -> list[Revocation]:
    """Raises MalformedMessage."""
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedMessage("not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise MalformedMessage("not an object")
    version = body.get("v")
    if type(version) is not int or version != MESSAGE_VERSION:
        raise MalformedMessage("unknown version")
    items = body.get("entries")
    if not isinstance(items, list):
        raise MalformedMessage("no entry list")
    return [_entry(item, i) for i, item in enumerate(items)]


def _entry(item: object, i: int) -> Revocation:
    if not isinstance(item, dict):
        raise MalformedMessage(f"entry {i} is not an object")
    kind, subject, value, seq = item.get("kind"), item.get("subject"), item.get("value"), item.get("seq")
    if kind not in ("sid", "epoch"):
        raise MalformedMessage(f"entry {i}: unknown kind")
    if not isinstance(subject, str) or not subject:
        raise MalformedMessage(f"entry {i}: subject is not a non-empty string")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise MalformedMessage(f"entry {i}: value is not a finite number")
    if type(seq) is not int or seq < 0:
        raise MalformedMessage(f"entry {i}: seq is not a non-negative integer")
    return Revocation(seq, "sid" if kind == "sid" else "epoch", subject, float(value))


class RedisRevocationChannel:
    """Publishes revocations and delivers those of every node (this one's included: applying is idempotent)."""

    def __init__(self, client: Redis, channel: str = DEFAULT_CHANNEL) -> None:
        self._client = client
        self._channel = channel

    @property
    def channel(self) -> str:
        return self._channel

    async def publish(self, entries: Sequence[Revocation]) -> None:
        """One message for all of `entries`; nothing when there are none. Raises when Redis cannot be reached."""
        if entries:
            await self._client.publish(self._channel, encode(entries))

    async def listen(
        self,
        on_entries: Callable[[list[Revocation]], None],
        on_state: Callable[[bool], None],
        *,
        stop: anyio.Event,
    ) -> None:
        """Delivers published entries to `on_entries` until `stop` is set, reconnecting for as long as it takes.

        `on_state(True)` once Redis confirmed the subscription, `on_state(False)` as soon as it is lost (a closed
        connection, a failed read, no reply to a PING) and when listening stops: transitions only, so a Redis
        that stays down is not reported again at every attempt. Callbacks run in the listening task and must
        not block; an exception from one is logged and the loop goes on. Returns once `stop` is set, with its
        connection closed and no task left behind.
        """
        if stop.is_set():
            return
        async with anyio.create_task_group() as tg:

            async def cancel_on_stop() -> None:
                await stop.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_on_stop)
            await _Subscriber(self._client, self._channel, on_entries, on_state).run()

    def __repr__(self) -> str:
        return f"RedisRevocationChannel(channel={self._channel!r})"


class _Subscriber:
    def __init__(
        self,
        client: Redis,
        channel: str,
        on_entries: Callable[[list[Revocation]], None],
        on_state: Callable[[bool], None],
    ) -> None:
        self._pool = client.connection_pool
        self._channel = channel.encode()
        self._on_entries = on_entries
        self._on_state = on_state
        self._up = False

    async def run(self) -> None:
        """Never returns: cancelled by `listen` when its `stop` is set."""
        delay = BACKOFF_MIN
        failures = 0  # in a row: the first is a warning, the next ones (Redis still down) only debug
        while True:
            started = anyio.current_time()
            conn = self._connection()
            try:
                await self._subscribe(conn)
                failures = 0
                self._set_state(True)
                await self._receive(conn)
            except Exception as exc:  # anything but cancellation: report, back off, try again
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "revocation subscription failed (%s: %s); retrying", type(exc).__name__, exc)
            finally:
                with anyio.CancelScope(shield=True):
                    await _close(conn)
                self._set_state(False)
            if anyio.current_time() - started >= BACKOFF_MAX:
                delay = BACKOFF_MIN
            await anyio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - jitter, not a secret
            delay = min(delay * 2, BACKOFF_MAX)

    def _connection(self) -> AbstractConnection:
        """Its own connection, outside the client's pool (a subscribed connection cannot serve commands), with the
        pool's settings (address, TLS, credentials, timeouts) but no health check, no retry (connected below with
        `retry_socket_connect=False`, reads never retried) and no maintenance handling: every failure surfaces
        here, where it is reported and retried with backoff. (A cluster client would lend one node's connection.)
        """
        kwargs = {
            **self._pool.connection_kwargs,
            "health_check_interval": 0,
            "decode_responses": False,  # payloads and channel names compared as bytes
            "maint_notifications_config": None,
            "maint_notifications_pool_handler": None,
        }
        return self._pool.connection_class(**kwargs)

    async def _subscribe(self, conn: AbstractConnection) -> None:
        await conn.connect_check_health(check_health=False, retry_socket_connect=False)
        await conn.send_command("SUBSCRIBE", self._channel, check_health=False)
        while True:
            reply = await conn.read_response(timeout=REPLY_WAIT, push_request=True)
            if reply is None:
                raise RedisConnectionError("no confirmation of SUBSCRIBE")
            if _kind(reply) == b"subscribe" and reply[1] == self._channel:
                return

    async def _receive(self, conn: AbstractConnection) -> None:
        while True:
            reply = await conn.read_response(timeout=IDLE_PING, push_request=True)
            if reply is None:
                await conn.send_command("PING", check_health=False)
                reply = await conn.read_response(timeout=REPLY_WAIT, push_request=True)
                if reply is None:
                    raise RedisConnectionError("no reply to PING")
            if _kind(reply) == b"message" and len(reply) == 3 and reply[1] == self._channel:
                self._deliver(reply[2])
            # a PING's "pong" and anything else only proves the connection alive

    def _deliver(self, data: object) -> None:
        if not isinstance(data, bytes):
            log.warning("ignored a revocation message that is not bytes")
            return
        try:
            entries = decode(data)
        except MalformedMessage as exc:
            log.warning("ignored a malformed revocation message (%d bytes): %s", len(data), exc)
            return
        try:
            self._on_entries(entries)
        except Exception:
            log.exception("applying %d published revocation(s) failed", len(entries))

    def _set_state(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        try:
            self._on_state(up)
        except Exception:
            log.exception("the revocation subscription's state callback failed")


def _kind(reply: object) -> bytes | None:
    if isinstance(reply, list) and len(reply) >= 2 and isinstance(reply[0], bytes):
        return reply[0].lower()
    return None


async def _close(conn: AbstractConnection) -> None:
    try:
        await conn.disconnect()
    except Exception as exc:  # closing a broken connection may fail; it is gone either way
        log.debug("closing the subscriber connection: %s", type(exc).__name__)
