"""Real-time fan-out: one hub per server process, Redis pub/sub between processes.

Services publish events to topics (`room.<id>`, `user.<id>`) after commit. Each event is
serialized to its wire text once, where it is published; it crosses Redis once per
process (not once per recipient), and the hub hands the same text to every local
connection subscribed to any of its topics, once per connection even when the event
names several topics. The database stays the source of truth: an event lost here is
seen by clients as a gap in a room's seq and recovered with `sync`.

Without REDIS_URL (the embedded default) the hub is purely local.
"""

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from django.conf import settings
from django.db import transaction

from chatproject.metrics import EVENTS_DROPPED as DROPPED
from chatproject.metrics import EVENTS_PUBLISHED as PUBLISHED

logger = logging.getLogger(__name__)


def room_topic(room_id: int) -> str:
    return f"room.{room_id}"


def user_topic(user_id: int) -> str:
    return f"user.{user_id}"


# Older names, kept for readability where a "group" reads better.
room_group, user_group = room_topic, user_topic


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def frame_event(frame: dict[str, Any], **routing: Any) -> dict[str, Any]:
    """An event that connections forward as-is.

    `routing` may hold `skip_conn` (not to this connection) and `skip_user` (not to
    this user's connections).
    """
    return {"kind": "frame", "text": dumps(frame), **routing}


class Subscriber(Protocol):
    conn_id: str
    user_id: int | None

    async def on_event(self, event: dict[str, Any]) -> None: ...


class Hub:
    """This process's topic -> connections map, bound to the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.topics: dict[str, set[Subscriber]] = {}
        self.transport = RedisTransport(self) if settings.REDIS_URL else None
        self.queue: deque[tuple[list[str], dict]] = deque()
        self.draining = False

    async def start(self) -> None:
        if self.transport is not None:
            await self.transport.start()

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self.topics.setdefault(topic, set()).add(subscriber)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self.topics.get(topic)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.topics[topic]

    def publish(self, topics: list[str], event: dict[str, Any]) -> None:
        """From the hub's loop: hand the event to Redis (or straight to local subscribers)."""
        if not topics:
            return
        PUBLISHED.inc()
        # Local subscribers get the event straight away; Redis carries it to the other
        # processes (and this process skips its own echo).
        self.enqueue_local(topics, event)
        if self.transport is not None:
            self.transport.send(topics, event)

    def enqueue_local(self, topics: list[str], event: dict[str, Any]) -> None:
        # One drain task at a time keeps events in publish order for every connection.
        self.queue.append((topics, event))
        if not self.draining:
            self.draining = True
            self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue:
                topics, event = self.queue.popleft()
                await self.deliver(topics, event)
        finally:
            self.draining = False

    async def deliver(self, topics: Iterable[str], event: dict[str, Any]) -> None:
        if len(topics) == 1:  # the common case: no set to build
            targets = list(self.topics.get(topics[0], ()))
        else:
            targets = set()
            for topic in topics:
                targets.update(self.topics.get(topic, ()))
        skip_conn, skip_user = event.get("skip_conn"), event.get("skip_user")
        for subscriber in targets:
            if subscriber.conn_id == skip_conn or (skip_user is not None and subscriber.user_id == skip_user):
                continue
            try:
                await subscriber.on_event(event)
            except Exception:
                if getattr(subscriber, "closed", False):
                    # The socket closed under us (its disconnect handler has not run yet):
                    # expected at the end of every connection, counted, not logged.
                    DROPPED.labels("connection_closed").inc()
                    continue
                DROPPED.labels("send_failed").inc()
                logger.exception("delivering an event failed")


class RedisTransport:
    """Every process publishes to, and listens on, one Redis pub/sub channel.

    One channel rather than one per topic: a subscription made once at start-up is
    confirmed before any connection says hello, so no subscribe race can hide a message
    from a client that was told the room's last seq. Events keep their order: one
    writer task publishes them in sequence, and Redis delivers a channel in order.
    """

    def __init__(self, hub: Hub) -> None:
        import redis.asyncio as aioredis

        self.hub = hub
        self.channel = settings.REALTIME_CHANNEL
        self.client = aioredis.Redis.from_url(settings.REDIS_URL)
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.ready = asyncio.Event()
        self.down = False  # the subscription failed and is not back yet
        self.tasks: list[asyncio.Task] = []
        # Prefixes what this hub publishes, so its listener can skip its own echo.
        self.origin = os.urandom(8).hex().encode() + b"|"

    async def start(self) -> None:
        self.tasks = [
            self.hub.loop.create_task(self._listen()),
            self.hub.loop.create_task(self._write()),
        ]
        await self.wait_ready()

    async def wait_ready(self) -> None:
        """Waits for the subscription, unless Redis is known to be down.

        Without Redis a process still serves: sockets connect, local delivery works, and
        events from other processes show up as seq gaps that clients sync. So a socket
        waits for the subscription only while it has not yet been seen failing.
        """
        if self.ready.is_set() or self.down:
            return
        try:
            await asyncio.wait_for(self.ready.wait(), READY_WAIT_SECONDS)
        except TimeoutError:
            self.down = True
            logger.warning("Redis event subscription not ready; serving without cross-process events")

    def send(self, topics: list[str], event: dict[str, Any]) -> None:
        self.outbox.put_nowait(self.origin + orjson.dumps({"topics": topics, "event": event}))

    async def _write(self) -> None:
        while True:
            payload = await self.outbox.get()
            batch = [payload]
            while not self.outbox.empty() and len(batch) < 500:
                batch.append(self.outbox.get_nowait())
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for item in batch:
                        pipe.publish(self.channel, item)
                    await pipe.execute()
            except Exception as exc:
                DROPPED.labels("publish_failed").inc(len(batch))
                _warn_rarely(f"publishing {len(batch)} events to Redis failed ({type(exc).__name__}: {exc})")
                await asyncio.sleep(0.5)

    async def _listen(self) -> None:
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        self.down = False
                        self.ready.set()
                        continue
                    if message["type"] != "message":
                        continue
                    data = message["data"]
                    if data.startswith(self.origin):
                        continue
                    envelope = orjson.loads(data[data.index(b"|") + 1 :])
                    await self.hub.deliver(envelope["topics"], envelope["event"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # While disconnected, events published by other processes are lost to
                # this one; its clients see seq gaps and sync.
                self.ready.clear()
                self.down = True
                DROPPED.labels("subscriber_disconnected").inc()
                _warn_rarely(f"Redis event subscription lost ({type(exc).__name__}: {exc}); reconnecting")
                await asyncio.sleep(0.5)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # the connection is already gone
                    pass


READY_WAIT_SECONDS = 10
_last_warning: dict[str, float] = {}


def _warn_rarely(text: str) -> None:
    """One warning line per kind every 10 s: an outage must not write a traceback every half second."""
    kind = text.split(" (")[0]
    now = time.monotonic()
    if now - _last_warning.get(kind, 0.0) >= 10:
        _last_warning[kind] = now
        logger.warning(text)


_hubs_lock = threading.Lock()
_current_hub: Hub | None = None


async def get_hub() -> Hub:
    """The hub of the running loop, started on first use."""
    global _current_hub
    loop = asyncio.get_running_loop()
    hub = _current_hub
    if hub is None or hub.loop is not loop:
        with _hubs_lock:
            hub = _current_hub = Hub(loop)
        await hub.start()
    elif hub.transport is not None:
        await hub.transport.wait_ready()
    return hub


def _publish_from_any_thread(topics: list[str], event: dict[str, Any]) -> None:
    hub = _current_hub
    if hub is not None and not hub.loop.is_closed():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is hub.loop:
            hub.publish(topics, event)
        else:
            hub.loop.call_soon_threadsafe(hub.publish, topics, event)
        return
    if settings.REDIS_URL:
        # No hub in this process yet (no socket connected to it, a management command):
        # publish directly, for the sockets of the other processes.
        PUBLISHED.inc()
        envelope = b"sync|" + orjson.dumps({"topics": topics, "event": event})
        try:
            _sync_client().publish(settings.REALTIME_CHANNEL, envelope)
        except Exception as exc:
            # Redis is down: the data is committed already, a client sees the gap and
            # syncs; the request that published must not fail for a hint.
            DROPPED.labels("publish_failed").inc()
            _warn_rarely(f"publishing an event to Redis failed ({type(exc).__name__}: {exc})")
    # Embedded default without a hub: no connection exists in this process to tell.


_sync_clients: dict[str, Any] = {}


def _sync_client():
    """One thread-safe client (with its connection pool) per Redis URL, reused."""
    client = _sync_clients.get(settings.REDIS_URL)
    if client is None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # One quick retry (a stale pooled connection after a Redis restart), then fail fast.
        client = _sync_clients[settings.REDIS_URL] = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
    return client


def publish(topics: str | list[str], event: dict[str, Any]) -> None:
    """Publishes now (for state that is not transactional: typing, presence)."""
    _publish_from_any_thread([topics] if isinstance(topics, str) else list(topics), event)


def publish_on_commit(topics: str | list[str], event: dict[str, Any]) -> None:
    """Publishes once the surrounding transaction commits, never for rolled-back data."""
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    transaction.on_commit(lambda: _publish_from_any_thread(topic_list, event))
