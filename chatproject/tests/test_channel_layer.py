"""The channel layer's API in one process, embedded (no Redis) and on Redis."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as db
from channels.layers import get_channel_layer

from chatproject.metrics import EVENTS_DROPPED
from rooms import services as rooms
from testsupport.wsclient import connect_as, receive_type

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(params=["embedded", "redis"])
def flavour(request, settings):
    if request.param == "embedded":
        settings.REALTIME_REDIS_URL = ""
    elif not settings.REALTIME_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    return request.param


async def test_generic_consumers_send_receive_and_groups(flavour):
    layer = get_channel_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("notes", first)
    await layer.group_add("notes", second)
    await layer.group_send("notes", {"type": "notes.hello", "n": 1})
    assert await asyncio.wait_for(layer.receive(first), 2) == {"type": "notes.hello", "n": 1}
    assert await asyncio.wait_for(layer.receive(second), 2) == {"type": "notes.hello", "n": 1}
    await layer.group_discard("notes", second)
    await layer.send(second, {"type": "direct"})
    await layer.group_send("notes", {"type": "notes.hello", "n": 2})
    assert (await asyncio.wait_for(layer.receive(first), 2))["n"] == 2
    assert await asyncio.wait_for(layer.receive(second), 2) == {"type": "direct"}


async def test_group_send_from_a_worker_thread_reaches_a_socket_once_and_unknown_types_are_dropped(flavour, make_user):
    alice = await db(make_user)("alice")
    room = await db(rooms.room_create)(creator=alice, name="general", kind="public")
    comm, _ = await connect_as(alice)
    send = async_to_sync(get_channel_layer().group_send)
    await asyncio.to_thread(send, f"room.{room.pk}", {"type": "chat.frame", "frame": {"type": "note", "n": 1}})
    assert (await receive_type(comm, "note"))["n"] == 1
    # One event to the room and the user's group: delivered once to the socket in both.
    await get_channel_layer().group_send_many(
        [f"room.{room.pk}", f"user.{alice.pk}"], {"type": "chat.frame", "frame": {"type": "note", "n": 2}}
    )
    assert (await receive_type(comm, "note"))["n"] == 2
    dropped = EVENTS_DROPPED.labels("unknown_type")._value.get()
    await get_channel_layer().group_send(f"user.{alice.pk}", {"type": "websocket.disconnect", "code": 1000})
    await get_channel_layer().group_send(f"user.{alice.pk}", {"type": "chat.frame", "frame": {"type": "note", "n": 3}})
    assert (await receive_type(comm, "note"))["n"] == 3  # still connected, nothing impersonated
    assert await comm.receive_nothing(0.2)  # and n=2 came only once
    assert EVENTS_DROPPED.labels("unknown_type")._value.get() == dropped + 1
    await comm.disconnect()


async def test_the_redis_transport_stops_when_cancelled_even_mid_publish(settings):
    # A cancelled redis-py pipeline sometimes returns normally: the writer must still stop,
    # or the event loop's shutdown (a server stopping, each test's end) waits for ever.
    if not settings.REALTIME_REDIS_URL:
        pytest.skip("needs REDIS_URL")
    from chatproject.realtime import Hub

    for attempt in range(40):
        hub = Hub(asyncio.get_running_loop())
        await hub.start()
        for n in range(50):
            hub.publish(["room.1"], {"type": "chat.frame", "text": f'{{"n": {n}}}'})
        for _ in range(attempt % 8):  # cancel at a different step of the publishing
            await asyncio.sleep(0)
        for task in hub.transport.tasks:
            task.cancel()
        _, pending = await asyncio.wait(hub.transport.tasks, timeout=5)
        assert not pending, "the transport's tasks ignored their cancellation"
