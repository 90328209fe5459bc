"""Where presence lives: Redis when configured (shared by every process), else this process.

Each connection is an entry with a status and an expiry that its process's heartbeat
keeps pushing forward. A user is online while any live entry says online, away while
entries exist but none is online, offline when none is left. An entry whose process
died simply expires; the sweeper notices and reports the user offline exactly once.
"""

import asyncio
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

ONLINE, AWAY, OFFLINE = "online", "away", "offline"
REFRESH_CHUNK = 200


@dataclass(frozen=True)
class Presence:
    status: str
    last_seen: float | None  # unix seconds


def _aggregate(entries: dict[str, tuple[str, float]], now: float) -> str:
    live = [status for status, expires in entries.values() if expires > now]
    if not live:
        return OFFLINE
    return ONLINE if ONLINE in live else AWAY


class MemoryPresenceStore:
    """One process's view, for the embedded default (a single server process)."""

    def __init__(self) -> None:
        self.entries: dict[int, dict[str, tuple[str, float]]] = {}
        self.last_seen: dict[int, float] = {}

    async def update(self, user_id: int, conn_id: str, status: str | None, ttl: float) -> str | None:
        """Sets (status) or removes (None) a connection's entry; returns the new status if it changed."""
        now = time.time()
        entries = self.entries.setdefault(user_id, {})
        before = _aggregate(entries, now)
        if status is None:
            entries.pop(conn_id, None)
        else:
            entries[conn_id] = (status, now + ttl)
        for key in [k for k, (_, expires) in entries.items() if expires <= now]:
            del entries[key]
        after = _aggregate(entries, now)
        if after == OFFLINE or before == OFFLINE:
            self.last_seen[user_id] = now
        if not entries:
            self.entries.pop(user_id, None)
        return after if after != before else None

    async def update_many(self, changes: list[tuple[int, str, str | None]], ttl: float) -> list[str | None]:
        return [await self.update(user_id, conn_id, status, ttl) for user_id, conn_id, status in changes]

    async def refresh(self, conns: dict[str, tuple[int, str]], ttl: float) -> None:
        now = time.time()
        for conn_id, (user_id, status) in conns.items():
            entries = self.entries.get(user_id)
            if entries is not None and conn_id in entries:
                entries[conn_id] = (status, now + ttl)

    def get_many(self, user_ids: list[int]) -> dict[int, Presence]:
        now = time.time()
        result = {}
        for user_id in user_ids:
            status = _aggregate(self.entries.get(user_id, {}), now)
            result[user_id] = Presence(status, now if status != OFFLINE else self.last_seen.get(user_id))
        return result

    async def sweep(self) -> list[int]:
        """Users whose last entries expired since the last sweep: now offline."""
        now = time.time()
        gone = [user_id for user_id, entries in self.entries.items() if _aggregate(entries, now) == OFFLINE]
        for user_id in gone:
            del self.entries[user_id]
            self.last_seen[user_id] = now
        return gone


# KEYS of both scripts: conns hash, online zset, last-seen hash.
_AGGREGATE = """
local function aggregate(now)
  local values = redis.call('HGETALL', KEYS[1])
  local best, latest = 'offline', 0
  for i = 1, #values, 2 do
    local value = values[i + 1]
    local sep = string.find(value, '|', 1, true)
    local status, expires = string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1))
    if expires > now then
      if expires > latest then latest = expires end
      if status == 'online' then best = 'online' elseif best == 'offline' then best = 'away' end
    else
      redis.call('HDEL', KEYS[1], values[i])
    end
  end
  return best, latest
end
"""

# ARGV: user id, conn id, status ('' removes), now, ttl. Returns the new status if it changed.
_UPDATE = """
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local before = aggregate(now)
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
elseif ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. tostring(now + ttl))
end
local after, latest = aggregate(now)
if after == 'offline' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  if before ~= 'offline' then redis.call('HSET', KEYS[3], ARGV[1], tostring(now)) end
else
  redis.call('ZADD', KEYS[2], latest, ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], tostring(now))
end
if before ~= after then return after end
return false
"""

# ARGV: now, new expiry, key prefix, then (conn id, user id, status) per connection.
# Keys are built in the script, which is fine on a single Redis (not on a cluster).
_REFRESH = """
local now, expires, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for i = 4, #ARGV, 3 do
  local user = ARGV[i + 1]
  redis.call('HSET', prefix .. ':conns:' .. user, ARGV[i], ARGV[i + 2] .. '|' .. ARGV[2])
  redis.call('ZADD', prefix .. ':online', 'GT', expires, user)
  redis.call('HSET', prefix .. ':last_seen', user, now)
end
return 0
"""

# ARGV: user id, now. Returns 1 to the one caller that takes the user offline.
_SWEEP = """
local best, latest = aggregate(tonumber(ARGV[2]))
if best ~= 'offline' then
  redis.call('ZADD', KEYS[2], latest, ARGV[1])
  return 0
end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class RedisPresenceStore:
    """Shared by every server process; each change is one atomic script call."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry as AsyncRetry
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # The async client is bound to the event loop that made it: one store per loop.
        # A blocking pool: a burst of calls waits for a connection instead of failing with
        # "Too many connections" (updates are batched, so few calls are ever in flight).
        # Short timeouts and one quick retry: a pooled connection that went stale while
        # Redis restarted is replaced on first use, and a Redis that is down fails fast
        # (presence degrades) instead of holding a socket's hello for seconds.
        options = {
            "decode_responses": True,
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "health_check_interval": 30,
        }
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=5,
            retry=AsyncRetry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            **options,
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self.sync_client = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 1), retry_on_error=[redis.ConnectionError, redis.TimeoutError], **options
        )
        self.prefix = prefix
        self.script = self.client.register_script(_AGGREGATE + _UPDATE)
        self.sweep_script = self.client.register_script(_AGGREGATE + _SWEEP)
        self.refresh_script = self.client.register_script(_REFRESH)

    def _keys(self, user_id: int) -> list[str]:
        return [f"{self.prefix}:conns:{user_id}", f"{self.prefix}:online", f"{self.prefix}:last_seen"]

    async def update(self, user_id: int, conn_id: str, status: str | None, ttl: float) -> str | None:
        result = await self.script(
            keys=self._keys(user_id), args=[user_id, conn_id, status or "", f"{time.time():.3f}", ttl]
        )
        return result or None

    async def update_many(self, changes: list[tuple[int, str, str | None]], ttl: float) -> list[str | None]:
        """Like `update` for many connections in one pipelined round trip, results in order."""
        if not changes:
            return []
        now = f"{time.time():.3f}"
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id, conn_id, status in changes:
                await self.script(
                    keys=self._keys(user_id), args=[user_id, conn_id, status or "", now, ttl], client=pipe
                )
            results = await pipe.execute()
        return [result or None for result in results]

    async def refresh(self, conns: dict[str, tuple[int, str]], ttl: float) -> None:
        """Renews this process's entries: one script call per chunk, yielding in between."""
        items = list(conns.items())
        now = time.time()
        for start in range(0, len(items), REFRESH_CHUNK):
            args: list = [f"{now:.3f}", f"{now + ttl:.3f}", self.prefix]
            for conn_id, (user_id, status) in items[start : start + REFRESH_CHUNK]:
                args += [conn_id, user_id, status]
            await self.refresh_script(keys=[], args=args)
            await asyncio.sleep(0)  # let deliveries run between chunks

    def get_many(self, user_ids: list[int]) -> dict[int, Presence]:
        """One round trip (a pipeline) for any number of users; sync, for REST views."""
        if not user_ids:
            return {}
        now = time.time()
        with self.sync_client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hgetall(self._keys(user_id)[0])
            pipe.hmget(f"{self.prefix}:last_seen", [str(u) for u in user_ids])
            *conns, seen = pipe.execute()
        result = {}
        for user_id, entries, last_seen in zip(user_ids, conns, seen, strict=True):
            parsed = {}
            for conn_id, value in entries.items():
                status, _, expires = value.partition("|")
                parsed[conn_id] = (status, float(expires))
            status = _aggregate(parsed, now)
            result[user_id] = Presence(status, float(last_seen) if last_seen else None)
        return result

    async def sweep(self) -> list[int]:
        """Users whose entries all expired; each is reported by exactly one sweeping process."""
        now = f"{time.time():.3f}"
        expired = await self.client.zrangebyscore(f"{self.prefix}:online", "-inf", now)
        gone = []
        for user_id in expired:
            if await self.sweep_script(keys=self._keys(int(user_id)), args=[user_id, now]):
                gone.append(int(user_id))
        return gone


_memory_store = MemoryPresenceStore()
_redis_stores: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisPresenceStore]" = weakref.WeakKeyDictionary()
_redis_sync_store: RedisPresenceStore | None = None


def presence_store() -> MemoryPresenceStore | RedisPresenceStore:
    """The store for the running event loop (or for sync code when none runs)."""
    global _redis_sync_store
    if not settings.REDIS_URL:
        return _memory_store
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        if _redis_sync_store is None:
            _redis_sync_store = RedisPresenceStore(settings.REDIS_URL, settings.PRESENCE_PREFIX)
        return _redis_sync_store
    store = _redis_stores.get(loop)
    if store is None:
        store = _redis_stores[loop] = RedisPresenceStore(settings.REDIS_URL, settings.PRESENCE_PREFIX)
    return store
