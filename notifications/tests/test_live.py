"""Receipts, typing and presence frames reach exactly the right connections."""

import asyncio

import pytest
from channels.db import database_sync_to_async as db

from accounts.models import User
from messaging import services as messaging
from notifications import presence
from rooms import services as rooms
from testsupport.wsclient import connect_as, no_frame_of_type, receive_type, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def trio(make_user):
    """alice and bob share a room; carol is elsewhere."""

    def build():
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        room = rooms.room_create(creator=alice, name="general", kind="public")
        rooms.room_join(user=bob, room_id=room.pk)
        rooms.room_create(creator=carol, name="elsewhere", kind="public")
        return alice, bob, carol, room

    return db(build)


async def test_read_frames_send_coalesced_receipts_to_the_others(trio, settings):
    settings.MARKER_COALESCE_SECONDS = 0.2
    alice, bob, carol, room = await trio()
    for n in range(50):
        await db(messaging.message_send)(sender=alice, room_id=room.pk, body=f"m{n}")
    alice_ws, _ = await connect_as(alice)
    bob_phone, _ = await connect_as(bob)
    bob_laptop, hello = await connect_as(bob)
    assert next(r for r in hello["rooms"] if r["id"] == room.pk)["unread_count"] == 50
    carol_ws, _ = await connect_as(carol)

    for seq in range(1, 51):
        await send(bob_phone, {"type": "read", "room": room.pk, "up_to": seq})
    receipts = []
    while not await alice_ws.receive_nothing(timeout=0.6):
        frame = await alice_ws.receive_json_from()
        if frame["type"] == "receipt":
            receipts.append(frame)
    assert 1 <= len(receipts) <= 3
    assert receipts[-1] == {"type": "receipt", "room": room.pk, "user": bob.pk, "status": "read", "up_to": 50}
    assert (await receive_type(bob_laptop, "receipt"))["up_to"] == 50  # bob's other device updates its badge
    assert await no_frame_of_type(bob_phone, "receipt")
    assert await no_frame_of_type(carol_ws, "receipt")
    _, hello = await connect_as(bob)
    assert next(r for r in hello["rooms"] if r["id"] == room.pk)["unread_count"] == 0
    for ws in (alice_ws, bob_phone, bob_laptop, carol_ws):
        await ws.disconnect()


async def test_typing_reaches_other_members_only_and_floods_are_limited(trio):
    alice, bob, carol, room = await trio()
    alice_phone, _ = await connect_as(alice)
    alice_laptop, _ = await connect_as(alice)
    bob_ws, _ = await connect_as(bob)
    carol_ws, _ = await connect_as(carol)

    await send(alice_phone, {"type": "typing", "room": room.pk, "state": "start"})
    typing = await receive_type(bob_ws, "typing")
    assert (typing["room"], typing["user"]["id"], typing["state"]) == (room.pk, alice.pk, "start")
    assert await no_frame_of_type(alice_phone, "typing")
    assert await no_frame_of_type(alice_laptop, "typing")
    assert await no_frame_of_type(carol_ws, "typing")

    for n in range(300):
        await send(alice_phone, {"type": "typing", "room": room.pk, "state": "start" if n % 2 else "stop"})
    relayed = 0
    while not await bob_ws.receive_nothing(timeout=0.5):
        if (await bob_ws.receive_json_from())["type"] == "typing":
            relayed += 1
    assert relayed <= 10

    await send(carol_ws, {"type": "typing", "room": room.pk, "state": "start"})
    # A public room carol is not in: refused as her message.send would be.
    assert (await receive_type(carol_ws, "error"))["code"] == "permission_denied"
    await send(bob_ws, {"type": "typing", "room": room.pk, "state": "dancing"})
    assert (await receive_type(bob_ws, "error"))["code"] == "invalid"
    for ws in (alice_phone, alice_laptop, bob_ws, carol_ws):
        await ws.disconnect()


async def presence_frames(ws, timeout=0.5) -> list[dict]:
    frames = []
    while not await ws.receive_nothing(timeout=timeout):
        frame = await ws.receive_json_from()
        if frame["type"] == "presence":
            frames.append(frame)
    return frames


async def test_presence_across_two_devices(trio):
    alice, bob, carol, _ = await trio()
    bob_ws, _ = await connect_as(bob)
    carol_ws, _ = await connect_as(carol)
    phone, _ = await connect_as(alice)
    laptop, _ = await connect_as(alice)
    online = await presence_frames(bob_ws)
    assert [(f["user"], f["status"]) for f in online] == [(alice.pk, "online")]
    assert await presence_frames(carol_ws) == []  # shares no room with alice

    await phone.disconnect()
    assert await presence_frames(bob_ws) == []  # the laptop is still connected
    await send(laptop, {"type": "presence", "status": "away"})
    assert [f["status"] for f in await presence_frames(bob_ws)] == ["away"]
    await laptop.disconnect()
    offline = await presence_frames(bob_ws)
    assert [(f["user"], f["status"]) for f in offline] == [(alice.pk, "offline")]
    assert offline[0]["last_seen"].endswith("Z")
    assert (await db(User.objects.get)(pk=alice.pk)).last_seen is not None
    await bob_ws.disconnect()
    await carol_ws.disconnect()


async def test_presence_change_is_sent_once_per_contact_not_per_room(make_user):
    def build():
        alice, bob = make_user("alice"), make_user("bob")
        for name in ("one", "two", "three"):
            room = rooms.room_create(creator=alice, name=name, kind="public")
            rooms.room_join(user=bob, room_id=room.pk)
        return alice, bob

    alice, bob = await db(build)()
    bob_ws, _ = await connect_as(bob)
    alice_ws, _ = await connect_as(alice)
    assert len(await presence_frames(bob_ws)) == 1
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_a_vanished_process_leaves_its_users_offline_within_the_ttl(trio, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.PRESENCE_SWEEP_SECONDS = 0.3
    alice, bob, _, _ = await trio()
    bob_ws, _ = await connect_as(bob)
    await connect_as(alice)
    await presence_frames(bob_ws)
    status = await db(presence.presence_of)(user_ids=[alice.pk])
    assert status[str(alice.pk)]["status"] == "online"

    # alice's process dies: her entry gets no more heartbeats and no disconnect handler runs.
    registry = presence.presence_registry()
    for conn_id, (user_id, _) in list(registry.conns.items()):
        if user_id == alice.pk:
            del registry.conns[conn_id]
    frames = []
    async with asyncio.timeout(3):
        while not frames:
            frames = await presence_frames(bob_ws, timeout=0.2)
    assert [(f["user"], f["status"]) for f in frames] == [(alice.pk, "offline")]
    status = await db(presence.presence_of)(user_ids=[alice.pk, bob.pk])
    assert status[str(alice.pk)]["status"] == "offline"
    assert status[str(bob.pk)]["status"] == "online"  # bob's connection is kept alive by the heartbeat
    assert await presence.presence_sweep() == []  # reported exactly once
    await bob_ws.disconnect()


async def test_heartbeat_keeps_a_live_connection_online(trio, settings):
    settings.PRESENCE_TTL_SECONDS = 1
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.PRESENCE_SWEEP_SECONDS = 0.2
    alice, _, _, _ = await trio()
    presence.presence_registry().stop()
    alice_ws, _ = await connect_as(alice)
    await asyncio.sleep(1.5)
    status = await db(presence.presence_of)(user_ids=[alice.pk])
    assert status[str(alice.pk)]["status"] == "online"
    await alice_ws.disconnect()
