"""The frame handlers (messaging/frames.py) through their interface, `frames.Connection`,
without a socket: real services, database and hub; what the client would be sent is what
the connection records. And the marker coalescer (messaging/markers.py) on its own."""

import asyncio

import pytest
from channels.db import database_sync_to_async as db

from chatproject.errors import DomainError, FieldErrors, Invalid, NotFound, PermissionDenied
from messaging import frames
from messaging.consumers import ChatConsumer
from messaging.markers import MarkerCoalescer
from messaging.models import Message
from rooms.models import Membership
from testsupport.connection import RecordingConnection
from testsupport.factories import create_room, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_consumer_offers_everything_a_handler_may_use():
    members = [name for name in dir(frames.Connection) if not name.startswith("_")]
    members += list(frames.Connection.__annotations__)
    assert {"send_frame", "join_rooms", "queue_marker", "conn_state", "user", "user_id", "conn_id", "rooms"} <= set(
        members
    )
    for name in ("send_frame", "join_rooms", "queue_marker", "conn_state"):
        assert callable(getattr(ChatConsumer, name)), name


@pytest.fixture
def scene(make_user):
    def build():
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, name="general", members=[bob])
        send(alice, room, "@bob first")
        return alice, bob, room

    return db(build)


async def test_hello_joins_the_rooms_and_counts_unread(scene):
    _, bob, room = await scene()
    conn = RecordingConnection(bob)
    hello = await frames.on_authenticated(conn)
    assert conn.rooms == {room.pk}
    assert hello["rooms"] == [{"id": room.pk, "last_seq": 1, "unread_count": 1}]
    assert hello["user"]["username"] == "bob"
    await frames.on_disconnect(conn)


async def test_message_send_stores_and_acks(scene):
    alice, _, room = await scene()
    conn = RecordingConnection(alice)
    await frames.handle(conn, {"type": "message.send", "room": room.pk, "body": "hi", "client_id": "c1"})
    [ack] = conn.sent
    assert (ack["type"], ack["client_id"], ack["message"]["seq"], ack["message"]["body"]) == (
        "message.ack",
        "c1",
        2,
        "hi",
    )
    assert await db(Message.objects.filter(room=room, client_id="c1").count)() == 1


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ({"type": "message.send", "room": 1, "body": "x"}, FieldErrors),  # no client_id
        ({"type": "message.send", "room": "1", "body": "x", "client_id": "c"}, FieldErrors),
        ({"type": "message.send", "room": True, "body": "x", "client_id": "c"}, FieldErrors),
        ({"type": "sync", "room": 1}, FieldErrors),  # no `after`
        ({"type": "read", "room": 1, "up_to": -1}, FieldErrors),
        ({"type": "nonsense"}, Invalid),
        ({"type": None}, Invalid),
    ],
)
async def test_bad_frames_raise_domain_errors_for_the_door_to_map(scene, frame, error):
    alice, _, _ = await scene()
    conn = RecordingConnection(alice)
    with pytest.raises(error):
        await frames.handle(conn, frame)
    assert conn.sent == [] and conn.queued == []


async def test_a_stranger_cannot_send_or_sync(scene, make_user):
    _, _, room = await scene()
    carol = await db(make_user)("carol")
    conn = RecordingConnection(carol)
    with pytest.raises(PermissionDenied):  # public: visible, but not a member
        await frames.handle(conn, {"type": "message.send", "room": room.pk, "body": "x", "client_id": "c"})
    with pytest.raises(NotFound):
        await frames.handle(conn, {"type": "sync", "room": room.pk + 100, "after": 0})


async def test_sync_answers_the_messages_after_a_seq(scene):
    alice, bob, room = await scene()
    for n in range(3):
        await db(send)(alice, room, f"m{n}")
    conn = RecordingConnection(bob)
    await frames.handle(conn, {"type": "sync", "room": room.pk, "after": 2, "limit": 1})
    [answer] = conn.sent
    assert (answer["type"], answer["room"], answer["has_more"]) == ("sync", room.pk, True)
    assert [m["body"] for m in answer["messages"]] == ["m1"]


async def test_markers_are_queued_then_moved(scene):
    _, bob, room = await scene()
    conn = RecordingConnection(bob)
    await frames.handle(conn, {"type": "delivered", "room": room.pk, "up_to": 1})
    await frames.handle(conn, {"type": "read", "room": room.pk, "up_to": 1})
    assert conn.queued == [(room.pk, 1, False), (room.pk, 1, True)]
    assert conn.sent == []
    await frames.move_marker(conn, room.pk, 1, True)
    membership = await db(Membership.objects.get)(room=room, user=bob)
    assert (membership.read_seq, membership.delivered_seq) == (1, 1)


def test_a_frame_type_has_one_handler():
    frames.register("ping", frames.handle_ping)  # the same handler again: fine (ready() may run twice)

    async def other(conn, frame):
        pass

    with pytest.raises(ValueError, match="already"):
        frames.register("ping", other)


class TestMarkerCoalescer:
    async def test_a_burst_becomes_one_move_per_room_and_kind_reads_first(self):
        moves = []

        async def move(room_id, up_to, read):
            moves.append((room_id, up_to, read))

        coalescer = MarkerCoalescer(move, report=None, delay=0.05)
        for up_to in (3, 5, 4):
            coalescer.queue(1, up_to, read=False)
            coalescer.queue(1, up_to, read=True)
        coalescer.queue(2, 7, read=False)
        assert moves == []
        await asyncio.sleep(0.5)
        assert moves[0] == (1, 5, True)  # a read first: it also moves delivered
        assert sorted(moves[1:]) == [(1, 5, False), (2, 7, False)]
        coalescer.queue(1, 6, read=True)  # a new burst starts a new timer
        await coalescer.flush()
        assert moves[-1] == (1, 6, True)

    async def test_a_refused_move_is_reported_and_the_rest_still_move(self):
        moves, reported = [], []

        async def move(room_id, up_to, read):
            if room_id == 1:
                raise NotFound("Room not found.")
            moves.append(room_id)

        async def report(exc: DomainError):
            reported.append(exc.code)

        coalescer = MarkerCoalescer(move, report, delay=10)
        coalescer.queue(1, 1, read=True)
        coalescer.queue(2, 1, read=True)
        await coalescer.flush()  # the connection closes: no waiting for the timer
        coalescer.cancel()
        assert (moves, reported) == ([2], ["not_found"])
        assert coalescer.timer is None and coalescer.pending == {}
