"""Redis for multi-node deployments: the shared client, throttle windows, and the revocation channel.

Nothing here assumes a single Redis node. Every command touches one key (no MULTI across keys, no KEYS or SCAN,
Lua scripts read and write only their one KEYS[1]), so a Redis Cluster client could replace `Redis` without
changing the data model; PUBLISH/SUBSCRIBE reach every node of a cluster as they are.

Times are the caller's clock (a FakeClock in tests), never Redis TIME. Only key expiry runs on Redis's own clock,
as a duration measured from the write.
"""

from __future__ import annotations

import math
import secrets

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from sessionward.stores._redis_channel import DEFAULT_CHANNEL, RedisRevocationChannel

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_PREFIX",
    "MAX_EVENTS_PER_KEY",
    "RedisEphemeralStore",
    "RedisRevocationChannel",
    "connect_redis",
    "redis_ping",
]

DEFAULT_PREFIX = "sessionward:"
# As in MemoryEphemeralStore: enough for any window we configure, bounded under attack.
MAX_EVENTS_PER_KEY = 1024
# Socket connect and read timeout, and the longest wait for a free pooled connection.
IO_TIMEOUT = 1.0
# A pooled connection idle this long is PINGed before it is handed out again.
HEALTH_CHECK_SECONDS = 30
# A command that failed on a dropped connection or timed out is tried again this many times: a stale pooled
# connection costs one reconnect, not an error. Retried commands are idempotent (see _ADD_EVENT,
# _RESERVE_EVENT).
RETRIES = 2


async def connect_redis(url: str, pool_size: int) -> Redis:
    """A client for `url` (redis://, rediss:// or unix://) over at most `pool_size` connections, checked with a PING.

    Options in the URL's query string (e.g. `?client_name=x&socket_timeout=2`) override these defaults. A caller
    that finds every connection busy waits up to IO_TIMEOUT, then gets redis.exceptions.ConnectionError. TCP
    connections use keepalive (redis-py's default: idle 30 s, 3 probes 5 s apart).
    The client owns its pool: `await client.aclose()` closes every connection.
    """
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=IO_TIMEOUT,
        socket_timeout=IO_TIMEOUT,
        socket_connect_timeout=IO_TIMEOUT,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry_on_timeout=True,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.25, base=0.02), RETRIES),
        client_name="sessionward",
        decode_responses=False,
    )
    client = Redis.from_pool(pool)
    try:
        await redis_ping(client)
    except BaseException:
        await client.aclose()
        raise
    return client


async def redis_ping(client: Redis) -> None:
    """Raises (redis.exceptions.ConnectionError or TimeoutError) unless Redis answers."""
    if not await client.ping():
        raise RedisConnectionError("Redis did not answer PING")


# KEYS[1]: the key. ARGV: [1] at, [2] a member unique to this event, [3] the newest score that is past keeping,
# [4] keep_for in ms, [5] the most members kept. Atomic, one key. Re-running it with the same ARGV (a retry after a
# timeout) changes nothing: the member is the same, so the event is counted once.
_ADD_EVENT = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[5]) - 1)
local keep = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 0
"""

# The same, only while fewer than ARGV[6] events are in the window (ARGV[7], exclusive, to ARGV[1]]: the count and
# the add in one script, which Redis runs alone, so concurrent callers on every node never overfill a window.
# 1 when the event is in (also when a retry finds its own member there already), 0 when the window was full.
_RESERVE_EVENT = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  return 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCOUNT', KEYS[1], ARGV[7], ARGV[1]) >= tonumber(ARGV[6]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[5]) - 1)
local keep = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], keep)
end
return 1
"""


class RedisEphemeralStore:
    """`EphemeralStore` over one sorted set per key: each event a unique member scored by its time.

    Same semantics as MemoryEphemeralStore: `events` returns the times in (now - window, now]; a key keeps at most
    MAX_EVENTS_PER_KEY events (the newest); a key lives `keep_for` seconds after its latest write (the longest
    `keep_for` given wins, as in memory). Also, each write drops the key's events older than `at - keep_for`:
    nothing asks for a window longer than its `keep_for`. `events` returns times in ascending order.
    """

    def __init__(self, client: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self._prefix = prefix
        self._add = client.register_script(_ADD_EVENT)
        self._reserve = client.register_script(_RESERVE_EVENT)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def add_event(self, key: str, at: float, keep_for: float) -> None:
        keep_ms = max(1, math.ceil(keep_for * 1000))
        member = f"{at!r}:{secrets.token_hex(8)}"
        args: list[str | int] = [repr(float(at)), member, repr(float(at) - keep_for), keep_ms, MAX_EVENTS_PER_KEY]
        await self._add(keys=[self._key(key)], args=args)

    async def reserve_event(self, key: str, at: float, window: float, limit: int) -> str | None:
        keep_ms = max(1, math.ceil(window * 1000))
        member = f"{at!r}:{secrets.token_hex(8)}"
        start = f"({float(at) - window!r}"  # exclusive, as in `events`
        args: list[str | int] = [
            repr(float(at)),
            member,
            repr(float(at) - window),
            keep_ms,
            MAX_EVENTS_PER_KEY,
            limit,
            start,
        ]
        return member if await self._reserve(keys=[self._key(key)], args=args) else None

    async def release_event(self, key: str, event_id: str) -> None:
        await self._client.zrem(self._key(key), event_id)

    async def events(self, key: str, now: float, window: float) -> list[float]:
        low = f"({float(now) - window!r}"  # exclusive, as `now - window < t` in memory
        found = await self._client.zrange(self._key(key), low, repr(float(now)), byscore=True, withscores=True)
        # (member, score) pairs, scores already floats (exact: Redis replies with 17 significant digits)
        return [float(pair[1]) for pair in found if not isinstance(pair, bytes | str)]

    async def clear(self, key: str) -> None:
        await self._client.delete(self._key(key))

    async def remember_once(self, key: str, at: float, keep_for: float) -> bool:
        """SET NX PX: one key, atomic. Expiry runs on Redis's clock, `keep_for` from the write. A namespace of its
        own ("once:"), so it never meets the event windows' sorted sets (as in memory)."""
        keep_ms = max(1, math.ceil(keep_for * 1000))
        return bool(await self._client.set(self._key(f"once:{key}"), b"1", nx=True, px=keep_ms))
