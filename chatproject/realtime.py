"""Real-time fan-out: one hub per server process, the channel layer's engine.

`chatproject.layers.HubChannelLayer` (the `CHANNEL_LAYERS` backend) is the public face:
`group_send("room.42", {...})` from any code reaches the sockets of the group's members
in every process. This module is the engine behind it:

- Groups (`room.<id>`, `user.<id>`) map to the local *sinks* (connections) that joined
  them. Delivery calls each sink's `deliver(message)`, which never awaits the network
  (see `chatproject.outbox`): one slow socket cannot hold up the others.
- An event is serialized to its wire text once, where it is published; local sinks get
  it at once, and it crosses Redis once per process that has a member in the group.
- With Redis, a process subscribes only to the channels of the groups its sockets are
  in (`<CACHE_PREFIX>:<db>:g:<group>`), so its work grows with its own users, not with
  the deployment. `group_add` returns once Redis confirmed the subscription: whatever
  is committed after that reaches the socket live.
- With `REDIS_CLUSTER`, channels are sharded (`SSUBSCRIBE`/`SPUBLISH`), each on the
  node that owns its slot, so pub/sub load spreads over the cluster.

The database stays the source of truth: an event lost here is seen by clients as a gap
in a room's seq and recovered with `sync`.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from django.conf import settings
from django.db import transaction

from chatproject.metrics import EVENTS_DROPPED as DROPPED
from chatproject.metrics import EVENTS_PUBLISHED as PUBLISHED
from chatproject.pubsub import RedisTransport, ShardedRedisTransport

logger = logging.getLogger(__name__)

# A group_send message of this type carries a ready wire `text` that sockets forward as-is.
FRAME = "chat.frame"


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


# Older names, kept for callers that say "topic".
room_topic, user_topic = room_group, user_group


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def frame_event(frame: dict[str, Any], **routing: Any) -> dict[str, Any]:
    """A group_send message that sockets forward as-is (serialized here, once).

    `routing` may hold `skip_conn` (not to this channel) and `skip_user` (not to this
    user's connections).
    """
    return {"type": FRAME, "text": dumps(frame), **routing}


def normalize(message: dict[str, Any]) -> dict[str, Any]:
    """Accepts the older `{"kind": ...}` events (`kind: frame` -> `chat.frame`)."""
    if "type" not in message and "kind" in message:
        message = {**message, "type": f"chat.{message['kind']}"}
        del message["kind"]
    return message


class Sink(Protocol):
    """What a group member is to the hub. `deliver` must not block or await."""

    channel_name: str
    user_id: int | None

    def deliver(self, message: dict[str, Any]) -> None: ...


class QueueSink:
    """A channel read with the layer's `receive()` (generic Channels consumers)."""

    user_id = None

    def __init__(self, channel_name: str, capacity: int) -> None:
        self.channel_name = channel_name
        self.queue: asyncio.Queue[dict] = asyncio.Queue(maxsize=capacity)

    def deliver(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            DROPPED.labels("channel_full").inc()


class Hub:
    """This process's groups -> sinks map, bound to the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sinks: dict[str, Sink] = {}
        self.groups: dict[str, set[Sink]] = {}
        self.transport: RedisTransport | None = None
        if settings.REALTIME_REDIS_URL:
            self.transport = (ShardedRedisTransport if settings.REDIS_CLUSTER else RedisTransport)(self)

    async def start(self) -> None:
        if self.transport is not None:
            await self.transport.start()

    @property
    def ready(self) -> bool:
        return self.transport is None or self.transport.connected

    # --- membership ----------------------------------------------------------------------
    def attach(self, sink: Sink) -> None:
        self.sinks[sink.channel_name] = sink

    def detach(self, channel_name: str, groups: Iterable[str] | None = None) -> None:
        """Drops a channel and its memberships: those in `groups`, else (slow) all of them."""
        sink = self.sinks.pop(channel_name, None)
        if sink is None:
            return
        if groups is None:
            groups = [g for g, members in self.groups.items() if sink in members]
        for group in groups:
            self._discard(group, sink)

    async def group_add(self, group: str, channel_name: str) -> None:
        """Returns once an event published to the group from now on reaches the channel."""
        sink = self.sinks.get(channel_name)
        if sink is None:
            raise ValueError(f"{channel_name!r} is not a channel of this process")
        self.add_local(group, sink)
        if self.transport is not None:
            await self.transport.subscribed(group)

    def add_local(self, group: str, sink: Sink) -> None:
        members = self.groups.get(group)
        if members is None:
            members = self.groups[group] = set()
            if self.transport is not None:
                self.transport.subscribe(group)
        members.add(sink)

    def group_discard(self, group: str, channel_name: str) -> None:
        sink = self.sinks.get(channel_name)
        if sink is not None:
            self._discard(group, sink)

    def _discard(self, group: str, sink: Sink) -> None:
        members = self.groups.get(group)
        if members is None:
            return
        members.discard(sink)
        if not members:
            del self.groups[group]
            if self.transport is not None:
                self.transport.unsubscribe(group)

    # --- events ----------------------------------------------------------------------------
    def publish(self, groups: list[str], message: dict[str, Any]) -> None:
        """From the hub's loop: local sinks now, Redis for the other processes."""
        if not groups:
            return
        PUBLISHED.inc()
        self.deliver(groups, message)
        if self.transport is not None:
            self.transport.send(groups, message)

    def deliver(self, groups: list[str], message: dict[str, Any], exclude: list[str] = ()) -> int:
        """Hands the message to the local members of `groups`, once per sink.

        Members of any group in `exclude` are skipped: they got (or get) the same event
        through that group's own copy. Returns how many sinks it reached.
        """
        if len(groups) == 1 and not exclude:  # the common case: no set to build
            targets = self.groups.get(groups[0], ())
        else:
            targets = set()
            for group in groups:
                targets.update(self.groups.get(group, ()))
            for group in exclude:
                targets.difference_update(self.groups.get(group, ()))
        skip_conn, skip_user = message.get("skip_conn"), message.get("skip_user")
        reached = 0
        for sink in tuple(targets):  # a sink may leave a group while we deliver
            if sink.channel_name == skip_conn or (skip_user is not None and sink.user_id == skip_user):
                continue
            try:
                sink.deliver(message)
                reached += 1
            except Exception:
                DROPPED.labels("send_failed").inc()
                logger.exception("delivering an event failed")
        return reached

    def deliver_to_channel(self, channel_name: str, message: dict[str, Any]) -> None:
        sink = self.sinks.get(channel_name)
        if sink is None:
            DROPPED.labels("connection_closed").inc()
        else:
            sink.deliver(message)


_hub_lock = threading.Lock()
_current_hub: Hub | None = None


async def get_hub() -> Hub:
    """The hub of the running loop, started on first use."""
    global _current_hub
    loop = asyncio.get_running_loop()
    hub = _current_hub
    if hub is None or hub.loop is not loop:
        with _hub_lock:
            hub = _current_hub = Hub(loop)
        await hub.start()
    elif hub.transport is not None and not hub.transport.connected:
        await hub.transport.wait_confirmed(hub.transport.process_channel)
    return hub


def current_hub() -> Hub | None:
    hub = _current_hub
    return hub if hub is not None and not hub.loop.is_closed() else None


def realtime_ready() -> bool:
    """Whether this process's hub can hear other processes' events (always, without Redis).

    With a hub: whether its Redis subscriber connection is up, and in any case whether
    Redis answers a PING. Blocks up to a second: call it from a thread.
    """
    if not settings.REALTIME_REDIS_URL:
        return True
    hub = current_hub()
    if hub is not None and not hub.ready:
        return False
    try:
        return bool(_probe_client().ping())
    except Exception:
        return False


_probe_clients: dict[str, Any] = {}


def _probe_client():
    """A client with short timeouts, so a probe never hangs on a dead Redis."""
    client = _probe_clients.get(settings.REALTIME_REDIS_URL)
    if client is None:
        if settings.REDIS_CLUSTER:
            from redis.cluster import RedisCluster

            client = RedisCluster.from_url(settings.REALTIME_REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        else:
            import redis

            client = redis.Redis.from_url(settings.REALTIME_REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        _probe_clients[settings.REALTIME_REDIS_URL] = client
    return client


def _publish_from_any_thread(topics: list[str], event: dict[str, Any]) -> None:
    event = normalize(event)
    hub = current_hub()
    if hub is not None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is hub.loop:
            hub.publish(topics, event)
        else:
            hub.loop.call_soon_threadsafe(hub.publish, topics, event)
        return
    if settings.REALTIME_REDIS_URL:
        # No hub in this process (no socket connected to it, a management command):
        # publish directly, for the sockets of the other processes.
        PUBLISHED.inc()
        try:
            publish_direct(topics, event)
        except Exception as exc:
            # Redis is down: the data is committed already and clients see the gap and
            # sync; the request that published must not fail for a hint.
            DROPPED.labels("publish_failed").inc()
            logger.warning("publishing an event to Redis failed (%s: %s)", type(exc).__name__, exc)
    # Embedded default without a hub: no connection exists in this process to tell.


def publish_direct(groups: list[str], message: dict[str, Any]) -> None:
    """Publishes to Redis from a process without a hub (blocking; any thread)."""
    prefix = settings.REALTIME_CHANNEL_PREFIX
    payload = b"direct|" + orjson.dumps({"g": groups, "m": message})
    client = _sync_client()
    verb = "SPUBLISH" if settings.REDIS_CLUSTER else "PUBLISH"
    for group in groups:
        client.execute_command(verb, f"{prefix}g.{group}", payload)


_sync_clients: dict[str, Any] = {}


def _sync_client():
    """One thread-safe client (with its connection pool) per Redis URL, reused."""
    client = _sync_clients.get(settings.REALTIME_REDIS_URL)
    if client is None:
        if settings.REDIS_CLUSTER:
            from redis.cluster import RedisCluster

            client = RedisCluster.from_url(settings.REALTIME_REDIS_URL)
        else:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # One quick retry (a stale pooled connection after a Redis restart), then fail fast.
            client = redis.Redis.from_url(
                settings.REALTIME_REDIS_URL,
                socket_timeout=2,
                socket_connect_timeout=2,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
        _sync_clients[settings.REALTIME_REDIS_URL] = client
    return client


def publish(topics: str | list[str], event: dict[str, Any]) -> None:
    """Publishes now (for state that is not transactional: typing, presence)."""
    _publish_from_any_thread([topics] if isinstance(topics, str) else list(topics), event)


def publish_on_commit(topics: str | list[str], event: dict[str, Any]) -> None:
    """Publishes once the surrounding transaction commits, never for rolled-back data."""
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    # The commit time travels with the event: receivers observe chat_delivery_seconds.
    transaction.on_commit(lambda: _publish_from_any_thread(topic_list, {**event, "committed_at": time.time()}))
