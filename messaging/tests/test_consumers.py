"""The /ws/ door for messages: ack, fan-out, live membership, sync, bad input."""

import pytest
from channels.db import database_sync_to_async as db

from messaging import services as messaging
from rooms import services as rooms
from testsupport.wsclient import connect_as, no_frame_of_type, receive_type, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def world(make_user):
    """alice owns a public room and a private one with bob; carol is outside both."""

    def build():
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        public = rooms.room_create(creator=alice, name="general", kind="public")
        private = rooms.room_create(creator=alice, name="secret", kind="private")
        rooms.room_join(user=bob, room_id=public.pk)
        rooms.member_add(actor=alice, room_id=private.pk, user_id=bob.pk)
        return alice, bob, carol, public, private

    return db(build)


async def test_send_acks_sender_and_reaches_every_member_device(world):
    alice, bob, carol, public, _ = await world()
    alice_phone, hello = await connect_as(alice)
    assert {r["id"] for r in hello["rooms"]} == {public.pk, public.pk + 1}
    alice_laptop, _ = await connect_as(alice)
    bob_ws, _ = await connect_as(bob)
    carol_ws, _ = await connect_as(carol)

    await send(alice_phone, {"type": "message.send", "room": public.pk, "body": "hello", "client_id": "m1"})
    ack = await receive_type(alice_phone, "message.ack")
    assert ack["client_id"] == "m1"
    assert (ack["message"]["seq"], ack["message"]["body"]) == (1, "hello")
    for device in (alice_laptop, bob_ws):
        new = await receive_type(device, "message.new")
        assert new["message"]["id"] == ack["message"]["id"]
    assert await no_frame_of_type(alice_phone, "message.new")
    assert await no_frame_of_type(carol_ws, "message.new")
    for ws in (alice_phone, alice_laptop, bob_ws, carol_ws):
        await ws.disconnect()


async def test_resend_with_same_client_id_acks_the_same_message(world):
    alice, bob, _, public, _ = await world()
    alice_ws, _ = await connect_as(alice)
    bob_ws, _ = await connect_as(bob)
    frame = {"type": "message.send", "room": public.pk, "body": "once", "client_id": "dup"}
    await send(alice_ws, frame)
    first = await receive_type(alice_ws, "message.ack")
    await send(alice_ws, frame)
    second = await receive_type(alice_ws, "message.ack")
    assert first["message"]["id"] == second["message"]["id"]
    await receive_type(bob_ws, "message.new")
    assert await no_frame_of_type(bob_ws, "message.new")
    await alice_ws.disconnect()
    await bob_ws.disconnect()


async def test_joining_starts_and_leaving_stops_delivery_live(world):
    alice, _, carol, public, _ = await world()
    alice_ws, _ = await connect_as(alice)
    carol_ws, _ = await connect_as(carol)
    await db(rooms.room_join)(user=carol, room_id=public.pk)
    joined = await receive_type(carol_ws, "room.joined")
    assert joined["room"]["id"] == public.pk

    await send(alice_ws, {"type": "message.send", "room": public.pk, "body": "welcome", "client_id": "w"})
    assert (await receive_type(carol_ws, "message.new"))["message"]["body"] == "welcome"

    await db(rooms.room_leave)(user=carol, room_id=public.pk)
    assert (await receive_type(carol_ws, "room.left"))["room"]["id"] == public.pk
    await send(alice_ws, {"type": "message.send", "room": public.pk, "body": "bye", "client_id": "b"})
    await receive_type(alice_ws, "message.ack")
    assert await no_frame_of_type(carol_ws, "message.new")
    await alice_ws.disconnect()
    await carol_ws.disconnect()


async def test_removed_member_stops_receiving_and_cannot_send(world):
    alice, bob, _, _, private = await world()
    bob_ws, _ = await connect_as(bob)
    await db(rooms.member_remove)(actor=alice, room_id=private.pk, user_id=bob.pk)
    left = await receive_type(bob_ws, "room.left")
    assert left["reason"] == "removed"
    await db(messaging.message_send)(sender=alice, room_id=private.pk, body="after", client_id="a1")
    assert await no_frame_of_type(bob_ws, "message.new")
    await send(bob_ws, {"type": "message.send", "room": private.pk, "body": "x", "client_id": "x1"})
    error = await receive_type(bob_ws, "error")
    assert (error["code"], error["ref"]) == ("not_found", "x1")
    await send(bob_ws, {"type": "sync", "room": private.pk, "after": 0})
    assert (await receive_type(bob_ws, "error"))["code"] == "not_found"
    await bob_ws.disconnect()


async def test_sync_after_disconnect_returns_exactly_the_missed_messages(world):
    alice, bob, _, public, _ = await world()
    bob_ws, _ = await connect_as(bob)
    for n in range(1, 4):
        await db(messaging.message_send)(sender=alice, room_id=public.pk, body=f"m{n}", client_id=f"c{n}")
    seen = [(await receive_type(bob_ws, "message.new"))["message"]["seq"] for _ in range(3)]
    assert seen == [1, 2, 3]
    await bob_ws.disconnect()

    for n in range(4, 9):
        await db(messaging.message_send)(sender=alice, room_id=public.pk, body=f"m{n}", client_id=f"c{n}")
    bob_ws, hello = await connect_as(bob)
    assert next(r for r in hello["rooms"] if r["id"] == public.pk)["last_seq"] == 8
    await send(bob_ws, {"type": "sync", "room": public.pk, "after": 3})
    sync = await receive_type(bob_ws, "sync")
    assert [m["seq"] for m in sync["messages"]] == [4, 5, 6, 7, 8]
    assert [m["body"] for m in sync["messages"]] == ["m4", "m5", "m6", "m7", "m8"]
    assert sync["has_more"] is False
    await send(bob_ws, {"type": "sync", "room": public.pk, "after": 3, "limit": 2})
    page = await receive_type(bob_ws, "sync")
    assert ([m["seq"] for m in page["messages"]], page["has_more"]) == ([4, 5], True)
    await bob_ws.disconnect()


async def test_sync_pages_through_a_long_absence(world, settings):
    alice, bob, _, public, _ = await world()
    for n in range(1, 251):
        await db(messaging.message_send)(sender=alice, room_id=public.pk, body=f"m{n}", client_id=f"long{n}")
    bob_ws, _ = await connect_as(bob)
    after, seqs = 0, []
    while True:
        await send(bob_ws, {"type": "sync", "room": public.pk, "after": after})
        page = await receive_type(bob_ws, "sync")
        seqs += [m["seq"] for m in page["messages"]]
        after = seqs[-1]
        if not page["has_more"]:
            break
    assert seqs == list(range(1, 251))
    await bob_ws.disconnect()


BAD_FRAMES = [
    ({"type": "message.send", "room": "1", "body": "x", "client_id": "b1"}, "invalid"),
    ({"type": "message.send", "body": "x", "client_id": "b2"}, "invalid"),
    ({"type": "message.send", "room": 1, "client_id": "b3"}, "invalid"),
    ({"type": "message.send", "room": 1, "body": "   ", "client_id": "b4"}, "invalid"),
    ({"type": "message.send", "room": 1, "body": "x"}, "invalid"),
    ({"type": "message.send", "room": 1, "body": "x" * 10_001, "client_id": "b6"}, "too_large"),
    ({"type": "message.send", "room": 1, "body": ["x"], "client_id": "b7"}, "invalid"),
    ({"type": "message.send", "room": 999999, "body": "x", "client_id": "b8"}, "not_found"),
    ({"type": "sync", "room": 1, "after": -1}, "invalid"),
    ({"type": "sync", "room": True, "after": 0}, "invalid"),
    ({"type": 7}, "invalid"),
]


@pytest.mark.parametrize("frame,code", BAD_FRAMES)
async def test_bad_frames_get_error_frames_and_the_connection_keeps_serving(world, frame, code):
    alice, _, _, public, _ = await world()
    alice_ws, _ = await connect_as(alice)
    frame = {**frame, "room": public.pk} if type(frame.get("room")) is int and frame["room"] == 1 else frame
    await send(alice_ws, frame)
    error = await receive_type(alice_ws, "error")
    assert error["code"] == code
    assert error["ref"] == frame.get("client_id")
    await send(alice_ws, {"type": "message.send", "room": public.pk, "body": "still here", "client_id": "ok"})
    assert (await receive_type(alice_ws, "message.ack"))["message"]["body"] == "still here"
    await alice_ws.disconnect()


async def test_visible_but_not_member_gets_permission_denied(world):
    _, _, carol, public, _ = await world()
    carol_ws, _ = await connect_as(carol)
    await send(carol_ws, {"type": "message.send", "room": public.pk, "body": "hi", "client_id": "c"})
    assert (await receive_type(carol_ws, "error"))["code"] == "permission_denied"
    await carol_ws.disconnect()
