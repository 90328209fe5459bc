"""Two real daphne processes sharing Redis and PostgreSQL, real WebSocket clients."""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.testing import ServerProcess, database_url_for_tests
from conftest import needs_services
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.services]


async def open_ws(server: ServerProcess, user):
    ws = await websockets.connect(server.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws, hello


async def next_of(ws, frame_type: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == frame_type:
                return frame


async def send_and_ack(ws, room_id: int, body: str, client_id: str) -> dict:
    await ws.send(json.dumps({"type": "message.send", "room": room_id, "body": body, "client_id": client_id}))
    return (await next_of(ws, "message.ack"))["message"]


@pytest.fixture
def two_servers():
    needs_services(postgres=True, redis=True)
    env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL}
    with ServerProcess(env) as first, ServerProcess(env) as second:
        yield first, second


async def test_message_through_one_process_reaches_members_on_the_other(two_servers, make_user):
    first, second = two_servers
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, name="general", kind="public")
    await db(rooms.room_join)(user=bob, room_id=room.pk)

    alice_ws, _ = await open_ws(first, alice)
    bob_on_second, _ = await open_ws(second, bob)
    bob_on_first, _ = await open_ws(first, bob)

    sent = await send_and_ack(alice_ws, room.pk, "across processes", "x1")
    for ws in (bob_on_second, bob_on_first):
        new = await next_of(ws, "message.new")
        assert new["message"]["id"] == sent["id"]
        assert new["message"]["body"] == "across processes"

    # bob's device on the second process goes away; alice goes on talking.
    await bob_on_second.close()
    missed = [await send_and_ack(alice_ws, room.pk, f"missed {n}", f"m{n}") for n in range(5)]

    bob_back, hello = await open_ws(second, bob)
    last_seq = next(r["last_seq"] for r in hello["rooms"] if r["id"] == room.pk)
    assert last_seq == missed[-1]["seq"]
    await bob_back.send(json.dumps({"type": "sync", "room": room.pk, "after": sent["seq"]}))
    sync = await next_of(bob_back, "sync")
    assert [m["id"] for m in sync["messages"]] == [m["id"] for m in missed]
    assert [m["seq"] for m in sync["messages"]] == list(range(sent["seq"] + 1, sent["seq"] + 6))

    # And live delivery resumes on the second process.
    more = await send_and_ack(alice_ws, room.pk, "live again", "l1")
    assert (await next_of(bob_back, "message.new"))["message"]["id"] == more["id"]
    for ws in (alice_ws, bob_on_first, bob_back):
        await ws.close()


async def test_joining_on_one_process_starts_delivery_there(two_servers, make_user):
    first, second = two_servers
    alice, carol = await db(make_user)("alice2"), await db(make_user)("carol2")
    room = await db(rooms.room_create)(creator=alice, name="lobby", kind="public")
    carol_ws, _ = await open_ws(second, carol)
    alice_ws, _ = await open_ws(first, alice)
    await db(rooms.room_join)(user=carol, room_id=room.pk)
    assert (await next_of(carol_ws, "room.joined"))["room"]["id"] == room.pk
    sent = await send_and_ack(alice_ws, room.pk, "hi carol", "h1")
    assert (await next_of(carol_ws, "message.new"))["message"]["id"] == sent["id"]
    await carol_ws.close()
    await alice_ws.close()
