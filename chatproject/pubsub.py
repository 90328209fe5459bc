"""The hub's Redis side: per-group pub/sub channels, plain or sharded (Redis Cluster).

A process subscribes to `<prefix>g.<group>` while one of its sockets is in the group,
and to its own `<prefix>p.<process>` channel for point-to-point `send()`.
"""

import asyncio
import logging
import os
from collections import deque
from typing import Any

import orjson
from django.conf import settings

from chatproject.cancellation import raise_if_cancelled
from chatproject.metrics import EVENTS_DROPPED as DROPPED
from chatproject.metrics import REALTIME_EVENTS_RECEIVED

logger = logging.getLogger(__name__)

PROCESS_TAG = f"{os.getpid()}.{os.urandom(3).hex()}"


class RedisTransport:
    """Per-group Redis pub/sub channels, subscribed while a local socket is in the group.

    One pub/sub connection per process carries all its subscriptions. Subscribing is
    batched (the groups a hello joins go out as one SUBSCRIBE) and `subscribed()` waits
    for Redis's confirmation. Events keep their order: one writer task publishes them in
    sequence, and Redis delivers each channel in order.
    """

    SUBSCRIBE, UNSUBSCRIBE, MESSAGE, CONFIRM = "subscribe", "unsubscribe", "message", "subscribe"

    def __init__(self, hub) -> None:  # a chatproject.realtime.Hub
        self.hub = hub
        self.prefix = settings.REALTIME_CHANNEL_PREFIX
        self.client = self.make_client()
        self.wanted: set[str] = set()  # channel names we should be subscribed to
        self.confirmed: set[str] = set()
        self.in_flight: dict[str, int] = {}  # SUBSCRIBEs sent and not yet confirmed
        self.waiters: dict[str, asyncio.Future] = {}
        self.to_subscribe: set[str] = set()
        self.to_unsubscribe: set[str] = set()
        self.flush_scheduled = False
        self.connected = False
        self.ever_connected = False
        self.failures = 0  # connection attempts that failed since the last success
        self.links: dict[Any, Any] = {}  # link key -> redis-py PubSub
        self.outbox: deque[tuple[list[str], bytes]] = deque()
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        # Prefixes what this hub publishes, so its listener can skip its own echo.
        self.origin = os.urandom(8).hex().encode() + b"|"
        # Point-to-point `send()` to a channel of this process arrives here.
        self.process_channel = f"{self.prefix}p.{PROCESS_TAG}"

    def make_client(self):
        import redis.asyncio as aioredis

        return aioredis.Redis.from_url(settings.REALTIME_REDIS_URL)

    def channel(self, group: str) -> str:
        return f"{self.prefix}g.{group}"

    # --- subscriptions ---------------------------------------------------------------------
    async def start(self) -> None:
        self.tasks = [self.hub.loop.create_task(self._run()), self.hub.loop.create_task(self._write())]
        self._want(self.process_channel)
        await self.wait_confirmed(self.process_channel)

    def subscribe(self, group: str) -> None:
        self._want(self.channel(group))

    def _want(self, channel: str) -> None:
        self.wanted.add(channel)
        self.to_unsubscribe.discard(channel)
        self.to_subscribe.add(channel)
        self._schedule_flush()

    def unsubscribe(self, group: str) -> None:
        channel = self.channel(group)
        self.wanted.discard(channel)
        self.confirmed.discard(channel)
        self.to_subscribe.discard(channel)
        self.to_unsubscribe.add(channel)
        self._schedule_flush()

    def _waiter(self, channel: str) -> asyncio.Future:
        fut = self.waiters.get(channel)
        if fut is None:
            fut = self.waiters[channel] = self.hub.loop.create_future()
        return fut

    async def subscribed(self, group: str) -> None:
        channel = self.channel(group)
        if channel in self.confirmed or channel not in self.wanted:
            return
        await self.wait_confirmed(channel)

    async def wait_confirmed(self, channel: str) -> None:
        """Waits for Redis to confirm a subscription, but never for an outage.

        While Redis is unreachable nothing can be confirmed; the socket is served anyway
        and sees the events it missed as seq gaps (the database is the source of truth).
        """
        if not self.connected and (self.ever_connected or self.failures):
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._waiter(channel)), settings.REALTIME_SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            DROPPED.labels("subscribe_timeout").inc()
            logger.warning("Redis did not confirm a subscription to %s in time", channel)

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled and self.connected:
            self.flush_scheduled = True
            self.hub.loop.call_soon(lambda: self.hub.loop.create_task(self._flush()))

    async def _flush(self) -> None:
        self.flush_scheduled = False
        subs, self.to_subscribe = self.to_subscribe, set()
        unsubs, self.to_unsubscribe = self.to_unsubscribe, set()
        try:
            for link, channels in self.by_link(unsubs).items():
                await self.command(link, self.UNSUBSCRIBE, channels)
            for link, channels in self.by_link(subs).items():
                for channel in channels:
                    self.in_flight[channel] = self.in_flight.get(channel, 0) + 1
                await self.command(link, self.SUBSCRIBE, channels)
        except Exception:
            raise_if_cancelled()
            # The listener notices the broken connection and resubscribes everything wanted.
            logger.warning("Redis (un)subscribe failed; resubscribing on reconnect", exc_info=True)

    def by_link(self, channels: set[str]) -> dict[Any, list[str]]:
        return {None: sorted(channels)} if channels else {}

    async def command(self, link: Any, verb: str, channels: list[str]) -> None:
        pubsub = self.links[link]
        await (pubsub.subscribe if verb == "subscribe" else pubsub.unsubscribe)(*channels)

    def _confirm(self, channel: str) -> None:
        left = self.in_flight.get(channel, 0) - 1
        if left > 0:
            self.in_flight[channel] = left
            return
        self.in_flight.pop(channel, None)
        if channel in self.wanted:
            self.confirmed.add(channel)
            fut = self.waiters.pop(channel, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    # --- listening -------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            raise_if_cancelled()
            try:
                await self.open_links()
                self.connected = self.ever_connected = True
                self.failures = 0
                # Everything wanted is (re)subscribed in one go; confirmations release waiters.
                self.confirmed.clear()
                self.in_flight.clear()
                self.to_unsubscribe.clear()
                self.to_subscribe = set(self.wanted)
                self.flush_scheduled = True
                await self._flush()
                await self.listen_links()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelled()
                # While disconnected, events published by other processes are lost to
                # this one; its clients see seq gaps and sync.
                self.failures += 1
                DROPPED.labels("subscriber_disconnected").inc()
                logger.warning("Redis event subscription lost; reconnecting", exc_info=True)
            finally:
                self.connected = False
                await self.close_links()
            await asyncio.sleep(0.5)

    async def open_links(self) -> None:
        self.links = {None: self.client.pubsub(ignore_subscribe_messages=False)}
        await self.connect_links()

    async def connect_links(self) -> None:
        # Connected before anything subscribes: two first SUBSCRIBEs racing on an
        # unconnected redis-py PubSub would each take a connection, and the
        # confirmations of the first would arrive where nobody reads.
        for pubsub in self.links.values():
            await pubsub.connect()

    async def listen_links(self) -> None:
        await self._listen(self.links[None])

    async def close_links(self) -> None:
        links, self.links = self.links, {}
        for pubsub in links.values():
            try:
                await pubsub.aclose()
            except Exception:  # the connection is already gone
                pass

    async def _listen(self, pubsub) -> None:
        while True:
            raise_if_cancelled()
            if not pubsub.subscribed:
                # A link with no subscription has no connection to read from, and
                # redis-py offers nothing to await until one is made.
                await asyncio.sleep(0.05)
                continue
            async for message in pubsub.listen():
                kind = message["type"]
                if isinstance(kind, bytes):
                    kind = kind.decode()
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                if kind == self.MESSAGE:
                    self._on_message(channel, message["data"])
                elif kind == self.CONFIRM:
                    self._confirm(channel)

    def _on_message(self, channel: str, data: bytes) -> None:
        if data.startswith(self.origin):
            return
        REALTIME_EVENTS_RECEIVED.inc()
        try:
            envelope = orjson.loads(data[data.index(b"|") + 1 :])
            if "c" in envelope:
                self.hub.deliver_to_channel(envelope["c"], envelope["m"])
                return
            groups = envelope["g"]
            group = channel[len(self.prefix) + 2 :]
            # An event for several groups comes once per group's channel: deliver each
            # copy only to members not in an earlier group of the list.
            index = groups.index(group)
            self.hub.deliver([group], envelope["m"], exclude=groups[:index])
        except Exception:
            DROPPED.labels("bad_event").inc()
            logger.exception("could not read an event from Redis")

    # --- publishing ------------------------------------------------------------------------
    def send(self, groups: list[str], message: dict[str, Any]) -> None:
        payload = self.origin + orjson.dumps({"g": groups, "m": message})
        self.outbox.append(([self.channel(group) for group in groups], payload))
        self.wake.set()

    def send_to_channel(self, channel_name: str, message: dict[str, Any]) -> None:
        process = channel_name.split("!", 1)[0].removeprefix("hub.")
        payload = self.origin + orjson.dumps({"c": channel_name, "m": message})
        self.outbox.append(([f"{self.prefix}p.{process}"], payload))
        self.wake.set()

    async def _write(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox:
                batch = [self.outbox.popleft() for _ in range(min(len(self.outbox), 500))]
                try:
                    await self.publish_batch(batch)
                except Exception:
                    raise_if_cancelled()
                    DROPPED.labels("publish_failed").inc(len(batch))
                    logger.warning("publishing %d events to Redis failed", len(batch), exc_info=True)
                    await asyncio.sleep(0.5)
                raise_if_cancelled()

    async def publish_batch(self, batch: list[tuple[list[str], bytes]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for channels, payload in batch:
                for channel in channels:
                    pipe.publish(channel, payload)
            await pipe.execute()


class ShardedRedisTransport(RedisTransport):
    """Redis Cluster: each channel is a sharded channel on the node owning its slot.

    One pub/sub connection per primary node; SSUBSCRIBE and SPUBLISH go to the node that
    owns the channel's hash slot, so both the subscriptions and the publishing traffic
    spread over the cluster. After a topology change the links are rebuilt.
    """

    SUBSCRIBE, UNSUBSCRIBE, MESSAGE, CONFIRM = "ssubscribe", "sunsubscribe", "smessage", "ssubscribe"

    def make_client(self):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url(settings.REALTIME_REDIS_URL)

    def node_key(self, channel: str) -> str:
        return self.client.get_node_from_key(channel).name

    def by_link(self, channels: set[str]) -> dict[Any, list[str]]:
        grouped: dict[Any, list[str]] = {}
        for channel in sorted(channels):
            grouped.setdefault(self.node_key(channel), []).append(channel)
        return grouped

    async def command(self, link: Any, verb: str, channels: list[str]) -> None:
        pubsub = self.links[link]
        # One SSUBSCRIBE may only name channels of one hash slot.
        by_slot: dict[int, list[str]] = {}
        for channel in channels:
            by_slot.setdefault(self.client.keyslot(channel), []).append(channel)
        for same_slot in by_slot.values():
            await (pubsub.ssubscribe if verb == "ssubscribe" else pubsub.sunsubscribe)(*same_slot)

    async def open_links(self) -> None:
        import redis.asyncio as aioredis

        await self.client.initialize()
        self.links = {
            node.name: aioredis.Redis(host=node.host, port=node.port).pubsub(ignore_subscribe_messages=False)
            for node in self.client.get_primaries()
        }
        await self.connect_links()

    async def listen_links(self) -> None:
        tasks = [asyncio.ensure_future(self._listen(pubsub)) for pubsub in self.links.values()]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()

    async def publish_batch(self, batch: list[tuple[list[str], bytes]]) -> None:
        for channels, payload in batch:
            for channel in channels:
                await self.client.execute_command("SPUBLISH", channel, payload, target_nodes=self.node_for(channel))

    def node_for(self, channel: str):
        return self.client.get_node_from_key(channel)
