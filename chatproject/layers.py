"""The project's channel layer backend: Channels' API in front of the process's hub.

    CHANNEL_LAYERS = {"default": {"BACKEND": "chatproject.layers.HubChannelLayer"}}

One backend for both flavours: with `REDIS_URL` (or `REALTIME_REDIS_URL`) events cross
processes over per-group Redis channels (sharded on Redis Cluster with `REDIS_CLUSTER`);
without it (the embedded default) they stay in the process.

`group_send(group, message)` works from any code, in any process:

- in a server process, from its loop or from any thread (`async_to_sync`, a service in
  a worker thread): the hub delivers to local members and publishes once to Redis;
- in a process with no hub (a management command, a task worker): straight to Redis,
  for the sockets of the server processes.

How a message becomes what a socket sees (docs/scaling.md, "group_send"):

- `{"type": "chat.frame", "text": "<JSON text>"}` is forwarded as-is to every member
  socket; `{"type": "chat.frame", "frame": {...}}` is serialized here, once, into `text`.
  Optional `skip_conn` (a channel name) and `skip_user` (a user id) leave those out.
- `chat.room_joined` / `chat.room_left` (`room`, `text`) and `chat.disconnect` (`code`)
  are control messages the chat consumer acts on (join or leave the room's group, close).
- Any other type is dispatched, like Channels does, to a consumer method named after it
  (`"notes.ping"` -> `notes_ping`); the chat consumer counts and drops types it has no
  handler for, in `chat_events_dropped_total{reason="unknown_type"}`.

Messages must be JSON-serializable (they cross Redis as JSON). `send(channel, ...)` to a
channel of any process works; `group_add` takes channels of the calling process only.
"""

import asyncio
import itertools
from collections.abc import Iterable
from typing import Any

from channels.layers import BaseChannelLayer

from chatproject import realtime
from chatproject.pubsub import PROCESS_TAG

_channel_numbers = itertools.count(1)


def prepare(message: dict[str, Any]) -> dict[str, Any]:
    message = realtime.normalize(message)
    if message.get("type") == realtime.FRAME and "text" not in message:
        message = {**message, "text": realtime.dumps(message.pop("frame"))}
        message.pop("frame", None)
    return message


class HubChannelLayer(BaseChannelLayer):
    extensions = ["groups", "flush"]

    def __init__(self, capacity: int = 100, expiry: int = 60, **kwargs: Any) -> None:
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)

    async def new_channel(self, prefix: str = "hub.", sink: realtime.Sink | None = None) -> str:
        """A channel of this process. With `sink`, messages go to `sink.deliver()` (no queue).

        Without one, they wait in a queue for `receive()`, as generic consumers expect.
        """
        hub = await realtime.get_hub()
        name = f"hub.{PROCESS_TAG}!{next(_channel_numbers)}"
        if sink is None:
            sink = realtime.QueueSink(name, self.get_capacity(name))
        else:
            sink.channel_name = name
        hub.attach(sink)
        return name

    def forget_channel(self, channel: str, groups: Iterable[str] | None = None) -> None:
        """Drops a channel and its group memberships (a closed connection).

        A caller that knows the channel's groups names them: finding them costs a pass
        over every group of the process otherwise.
        """
        hub = realtime.current_hub()
        if hub is not None:
            hub.detach(channel, groups)

    async def receive(self, channel: str) -> dict[str, Any]:
        hub = await realtime.get_hub()
        sink = hub.sinks.get(channel)
        if not isinstance(sink, realtime.QueueSink):
            raise ValueError(f"{channel!r} is not a queued channel of this process")
        return await sink.queue.get()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        self.require_valid_channel_name(channel)
        message = prepare(message)
        hub = realtime.current_hub()
        if hub is not None and channel in hub.sinks:
            hub.deliver_to_channel(channel, message)
        elif hub is not None and hub.transport is not None:
            hub.loop.call_soon_threadsafe(hub.transport.send_to_channel, channel, message)
        else:
            realtime.DROPPED.labels("no_such_channel").inc()

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        hub = await realtime.get_hub()
        await hub.group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.group_discard_now(group, channel)

    def group_discard_now(self, group: str, channel: str) -> None:
        """group_discard without awaiting (it never needed to): from a sink's `deliver()`,
        so that the group's next event, even one already read from Redis, misses it."""
        hub = realtime.current_hub()
        if hub is not None:
            hub.group_discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.require_valid_group_name(group)
        await self.group_send_many([group], message)

    async def group_send_many(self, groups: list[str], message: dict[str, Any]) -> None:
        """One event to several groups, delivered once per socket even if it is in several."""
        message = prepare(message)
        hub = realtime.current_hub()
        if hub is not None or not realtime.settings.REALTIME_REDIS_URL:
            realtime._publish_from_any_thread(groups, message)
        else:
            # A blocking publish would stall this loop; a worker thread does it.
            await asyncio.get_running_loop().run_in_executor(None, realtime.publish_direct, groups, message)

    async def flush(self) -> None:
        hub = realtime.current_hub()
        if hub is not None:
            for name in list(hub.sinks):
                hub.detach(name)

    async def close(self) -> None:
        pass
