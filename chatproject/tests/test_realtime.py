"""The process's hub (chatproject/realtime.py) on its own: topics, skipping, order,
publish after commit, from other threads, and between two hubs over real Redis."""

import asyncio
import threading

import orjson
import pytest
from django.conf import settings
from django.db import transaction

from chatproject import realtime
from chatproject.metrics import EVENTS_DROPPED
from conftest import needs_services

pytestmark = pytest.mark.asyncio


class Socket:
    """A subscriber as the consumer is one: a connection id, a user, what it was handed."""

    def __init__(self, conn_id: str, user_id: int) -> None:
        self.conn_id, self.user_id = conn_id, user_id
        self.texts: list[str] = []
        self.got = asyncio.Event()

    async def on_event(self, event: dict) -> None:
        self.texts.append(event["text"])
        self.got.set()


class Broken(Socket):
    async def on_event(self, event: dict) -> None:
        raise ConnectionResetError("the client went away")


def frame(n: int, **routing) -> dict:
    return realtime.frame_event({"type": "test", "n": n}, **routing)


async def settle() -> None:
    for _ in range(5):  # the hub drains in its own task
        await asyncio.sleep(0)


@pytest.fixture
async def local_hub(settings):
    settings.REDIS_URL = ""  # purely local: what the embedded default runs
    return realtime.Hub(asyncio.get_running_loop())


async def test_each_subscriber_of_any_named_topic_gets_an_event_once(local_hub):
    alice_phone, alice_laptop, bob, carol = Socket("a1", 1), Socket("a2", 1), Socket("b1", 2), Socket("c1", 3)
    for sock in (alice_phone, alice_laptop, bob):
        local_hub.subscribe(realtime.room_topic(7), sock)
    local_hub.subscribe(realtime.room_topic(8), bob)
    local_hub.subscribe(realtime.room_topic(9), carol)
    local_hub.publish([realtime.room_topic(7), realtime.room_topic(8)], frame(1))
    await settle()
    for sock in (alice_phone, alice_laptop, bob):
        assert [orjson.loads(t) for t in sock.texts] == [{"type": "test", "n": 1}]
    assert carol.texts == []


async def test_skip_conn_and_skip_user(local_hub):
    alice_phone, alice_laptop, bob = Socket("a1", 1), Socket("a2", 1), Socket("b1", 2)
    for sock in (alice_phone, alice_laptop, bob):
        local_hub.subscribe("room.1", sock)
    local_hub.publish(["room.1"], frame(1, skip_conn="a1"))  # the sender's own connection gets an ack instead
    local_hub.publish(["room.1"], frame(2, skip_user=1))  # typing, presence: not to the user's own devices
    await settle()
    assert [orjson.loads(t)["n"] for t in alice_phone.texts] == []
    assert [orjson.loads(t)["n"] for t in alice_laptop.texts] == [1]
    assert [orjson.loads(t)["n"] for t in bob.texts] == [1, 2]


async def test_events_arrive_in_publish_order_and_unsubscribing_stops_them(local_hub):
    bob = Socket("b1", 2)
    local_hub.subscribe("room.1", bob)
    for n in range(50):
        local_hub.publish(["room.1"], frame(n))
    await settle()
    local_hub.unsubscribe("room.1", bob)
    local_hub.publish(["room.1"], frame(99))
    await settle()
    assert [orjson.loads(t)["n"] for t in bob.texts] == list(range(50))
    assert "room.1" not in local_hub.topics  # no empty topic left behind


async def test_one_failing_connection_does_not_stop_the_others(local_hub):
    broken, bob = Broken("x", 1), Socket("b1", 2)
    local_hub.subscribe("room.1", broken)
    local_hub.subscribe("room.1", bob)
    before = EVENTS_DROPPED.labels("send_failed")._value.get()
    local_hub.publish(["room.1"], frame(1))
    await settle()
    assert len(bob.texts) == 1
    assert EVENTS_DROPPED.labels("send_failed")._value.get() == before + 1


@pytest.mark.django_db(transaction=True)
async def test_publish_on_commit_only_after_commit_never_after_rollback(settings):
    settings.REDIS_URL = ""
    hub = await realtime.get_hub()
    bob = Socket("b1", 2)
    hub.subscribe("room.1", bob)

    def write(n: int, fail: bool) -> None:
        with transaction.atomic():
            realtime.publish_on_commit("room.1", frame(n))
            # Not before the commit (give the hub's loop time to prove it).
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), hub.loop).result()
            assert bob.texts == []
            if fail:
                raise RuntimeError("rolled back")

    # A worker thread, as services run: the event hops to the hub's loop.
    with pytest.raises(RuntimeError):
        await asyncio.to_thread(write, 1, True)
    await asyncio.to_thread(write, 2, False)
    await asyncio.wait_for(bob.got.wait(), 5)
    await asyncio.sleep(0.1)
    assert [orjson.loads(t)["n"] for t in bob.texts] == [2]
    hub.unsubscribe("room.1", bob)


async def test_publish_from_another_thread_reaches_the_hubs_loop(settings):
    settings.REDIS_URL = ""
    hub = await realtime.get_hub()
    bob = Socket("b1", 2)
    hub.subscribe("user.2", bob)
    thread = threading.Thread(target=realtime.publish, args=("user.2", frame(5)))
    thread.start()
    thread.join()
    await asyncio.wait_for(bob.got.wait(), 5)
    assert orjson.loads(bob.texts[0]) == {"type": "test", "n": 5}
    hub.unsubscribe("user.2", bob)


async def stop(hub: realtime.Hub) -> None:
    for task in hub.transport.tasks:
        task.cancel()
    await asyncio.gather(*hub.transport.tasks, return_exceptions=True)
    await hub.transport.client.aclose()


async def test_two_hubs_share_events_over_redis_and_skip_their_own_echo():
    needs_services(redis=True)
    assert settings.REDIS_URL
    loop = asyncio.get_running_loop()
    first, second = realtime.Hub(loop), realtime.Hub(loop)  # as two server processes would
    await first.start()
    await second.start()
    try:
        here, there = Socket("p1.1", 1), Socket("p2.1", 2)
        first.subscribe("room.1", here)
        second.subscribe("room.1", there)
        for n in range(19):
            first.publish(["room.1"], frame(n))
        there.got.clear()
        first.publish(["room.1"], frame(19))
        async with asyncio.timeout(10):
            while len(there.texts) < 20:  # the events arrive in order: the last one ends the wait
                await there.got.wait()
                there.got.clear()
        await asyncio.sleep(0.2)  # an echo of its own events would arrive by now
        assert [orjson.loads(t)["n"] for t in there.texts] == list(range(20))  # in order, once
        assert [orjson.loads(t)["n"] for t in here.texts] == list(range(20))  # locally, not echoed again
    finally:
        await stop(first)
        await stop(second)


async def test_without_a_hub_a_sync_publish_reaches_other_processes_over_redis():
    """A management command (no socket, no hub in its process) still tells the servers."""
    needs_services(redis=True)
    loop = asyncio.get_running_loop()
    server = realtime.Hub(loop)
    await server.start()
    try:
        bob = Socket("p2.1", 2)
        server.subscribe("user.2", bob)
        previous, realtime._current_hub = realtime._current_hub, None
        try:
            await asyncio.to_thread(realtime.publish, "user.2", frame(3))
        finally:
            realtime._current_hub = previous
        await asyncio.wait_for(bob.got.wait(), 10)
        assert orjson.loads(bob.texts[0]) == {"type": "test", "n": 3}
    finally:
        await stop(server)
