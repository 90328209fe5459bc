"""Rate limits shared by every server process: sliding windows, and the socket cap per user.

`enforce(scope, key)` counts one use of `scope` by `key` (a user id, an address, a
connection) and raises `Throttled(wait=seconds)` when the scope's window is full. Each
scope's rate is `RATE_LIMITS[scope] = (count, seconds)` from the environment (README).

With REDIS_URL set, windows live in Redis, one sorted set per (scope, key) changed by one
atomic script, so every process sees the same count; without it (the embedded, single-
process default) they live in this process. `ws_frame` is per connection, and a connection
lives in one process, so it always stays in memory: no Redis round trip per typing frame.

The limits fail open: if Redis cannot be reached, a request is let through (and logged)
rather than refused; an outage of the limiter must not stop people from chatting.
"""

import asyncio
import logging
import math
import threading
import time
import uuid
from collections import deque

from django.conf import settings

from chatproject.errors import Throttled
from chatproject.metrics import THROTTLED

logger = logging.getLogger(__name__)

LOCAL_SCOPES = frozenset({"ws_frame"})
DETAILS = {
    "send": "You are sending messages too fast; wait a moment.",
    "register": "Too many accounts registered from this address; try again later.",
    "room_create": "You are creating rooms too fast; try again later.",
    "dm_create": "You are starting conversations too fast; try again later.",
    "search": "You are searching too fast; wait a moment.",
    "upload": "You are uploading too fast; wait a moment.",
    "ws_frame": "Too many frames on this connection; slow down.",
}

# KEYS[1]: the window's sorted set. ARGV: window (ms), limit, unique member.
# Redis' own clock, so processes on hosts whose clocks differ still share one window.
# Returns 0 when counted, else the milliseconds until the oldest use leaves the window.
_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

# The sockets of one user: a sorted set of connection ids scored by expiry (ms). Entries of
# a process that died without saying goodbye expire; live processes renew theirs.
# KEYS[1]: the set. ARGV: connection id, ttl (ms), cap. Returns 1 if admitted.
_CONNECT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
"""

# ARGV: ttl (ms), then (key, connection id) pairs. Renews only entries that still exist.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call('ZADD', ARGV[i], 'XX', 'CH', now + ttl, ARGV[i + 1]) then
    redis.call('PEXPIRE', ARGV[i], ttl)
  end
end
return 0
"""


class _MemoryWindows:
    """Sliding windows of one process (a deque of use times per key), thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[tuple[str, str], deque[float]] = {}
        self.calls = 0

    def hit(self, scope: str, key: str, limit: int, window: float) -> float:
        now = time.monotonic()
        with self.lock:
            self.calls += 1
            if self.calls % 10_000 == 0:
                self._forget_idle(now)
            uses = self.windows.setdefault((scope, key), deque())
            while uses and uses[0] <= now - window:
                uses.popleft()
            if len(uses) >= limit:
                return uses[0] + window - now
            uses.append(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        longest = max((rate[1] for rate in settings.RATE_LIMITS.values() if rate), default=0)
        for key in [k for k, uses in self.windows.items() if not uses or uses[-1] <= now - longest]:
            del self.windows[key]

    def forget(self, scope: str, key: str) -> None:
        with self.lock:
            self.windows.pop((scope, key), None)

    def clear(self) -> None:
        with self.lock:
            self.windows.clear()


_memory = _MemoryWindows()
_redis_clients: dict[str, object] = {}


def _redis():
    """One thread-safe client (with its pool) per Redis URL, and its scripts."""
    client = _redis_clients.get(settings.REDIS_URL)
    if client is None:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        client.window = client.register_script(_WINDOW)
        client.connect = client.register_script(_CONNECT)
        client.renew = client.register_script(_RENEW)
        _redis_clients[settings.REDIS_URL] = client
    return client


def _redis_key(*parts: object) -> str:
    return ":".join([settings.CACHE_PREFIX, "rl", *map(str, parts)])


def _wait_for(scope: str, key: str, limit: int, window: int) -> float:
    if scope in LOCAL_SCOPES or not settings.REDIS_URL:
        return _memory.hit(scope, key, limit, window)
    try:
        waited = _redis().window(keys=[_redis_key(scope, key)], args=[window * 1000, limit, uuid.uuid4().hex])
    except Exception:
        logger.warning("rate limit %s not checked: Redis unavailable", scope, exc_info=True)
        return 0.0
    return int(waited) / 1000


def retry_after(wait: float) -> int:
    """Whole seconds, never 0: what Retry-After and `retry_after` say."""
    return max(1, math.ceil(wait))


def enforce(scope: str, key: str | int) -> None:
    """Counts one use of `scope` by `key`; raises Throttled(wait=seconds) when over its rate."""
    if settings.THROTTLE_DISABLED:
        return
    rate = settings.RATE_LIMITS.get(scope)
    if rate is None:
        return
    wait = _wait_for(scope, str(key), *rate)
    if wait > 0:
        THROTTLED.labels(scope).inc()
        raise Throttled(DETAILS.get(scope, Throttled.default_detail), wait=retry_after(wait))


def forget(scope: str, key: str | int) -> None:
    """Drops a local window whose key is gone (a closed connection's `ws_frame`)."""
    if scope in LOCAL_SCOPES or not settings.REDIS_URL:
        _memory.forget(scope, str(key))


def reset_memory() -> None:
    """Tests: forget every in-process window (Redis windows go with the test cache flush)."""
    _memory.clear()
    _connections.local.clear()
    _connections.memory.clear()


# --- open sockets per user ---------------------------------------------------------------
class _Connections:
    """Who holds how many sockets, across processes, with entries that expire unless renewed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local: dict[str, int] = {}  # this process's sockets: connection id -> user id
        self.memory: dict[int, set[str]] = {}  # without Redis: the whole (single-process) count
        self.renewer: asyncio.Task | None = None

    def open(self, user_id: int, conn_id: str) -> bool:
        cap = settings.WS_MAX_CONNECTIONS_PER_USER
        if not settings.REDIS_URL:
            with self.lock:
                conns = self.memory.setdefault(user_id, set())
                if cap and len(conns) >= cap:
                    return False
                conns.add(conn_id)
                self.local[conn_id] = user_id
            return True
        try:
            admitted = _redis().connect(
                keys=[_redis_key("conns", user_id)],
                args=[conn_id, settings.WS_CONNECTION_TTL_SECONDS * 1000, cap or 2**31],
            )
        except Exception:
            logger.warning("socket cap not checked: Redis unavailable", exc_info=True)
            admitted = 1
        if admitted:
            with self.lock:
                self.local[conn_id] = user_id
        return bool(admitted)

    def close(self, conn_id: str) -> None:
        with self.lock:
            user_id = self.local.pop(conn_id, None)
            if user_id is None:
                return
            if not settings.REDIS_URL:
                conns = self.memory.get(user_id, set())
                conns.discard(conn_id)
                if not conns:
                    self.memory.pop(user_id, None)
                return
        try:
            _redis().zrem(_redis_key("conns", user_id), conn_id)
        except Exception:
            logger.warning("socket cap entry not removed (it expires): Redis unavailable", exc_info=True)

    def renew(self) -> None:
        with self.lock:
            items = list(self.local.items())
        for start in range(0, len(items), 500):
            args: list = [settings.WS_CONNECTION_TTL_SECONDS * 1000]
            for conn_id, user_id in items[start : start + 500]:
                args += [_redis_key("conns", user_id), conn_id]
            _redis().renew(keys=[], args=args)

    async def _renew_forever(self) -> None:
        interval = max(settings.WS_CONNECTION_TTL_SECONDS / 3, 1)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.renew)
            except Exception:
                logger.warning("socket cap entries not renewed: Redis unavailable", exc_info=True)

    def ensure_renewing(self) -> None:
        if not settings.REDIS_URL:
            return
        loop = asyncio.get_running_loop()
        if self.renewer is None or self.renewer.done() or self.renewer.get_loop() is not loop:
            self.renewer = loop.create_task(self._renew_forever())


_connections = _Connections()


async def connection_open(*, user_id: int, conn_id: str) -> bool:
    """Admits one more socket for this user, or False when they hold WS_MAX_CONNECTIONS_PER_USER."""
    if settings.THROTTLE_DISABLED:
        return True
    _connections.ensure_renewing()
    admitted = await asyncio.to_thread(_connections.open, user_id, conn_id)
    if not admitted:
        THROTTLED.labels("ws_connections").inc()
    return admitted


async def connection_close(*, conn_id: str) -> None:
    """Forgets a socket admitted by connection_open (no-op for any other)."""
    if conn_id in _connections.local:
        await asyncio.to_thread(_connections.close, conn_id)
