"""What notifications adds to the /ws/ door (notifications/frames.py, connected through
messaging's hooks): presence and the unread count in `hello`, typing and presence frames."""

import pytest
from channels.db import database_sync_to_async as db

from chatproject.errors import FieldErrors, NotFound
from messaging import frames
from notifications.presence import presence_statuses
from testsupport.connection import RecordingConnection
from testsupport.factories import create_room, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scene(make_user):
    def build():
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, name="general", members=[bob])
        send(alice, room, "@bob first")
        return bob, room

    return db(build)


async def status(user) -> str:
    return (await db(presence_statuses)(user_ids=[user.pk]))[user.pk]


async def test_a_connection_is_presence_and_hello_counts_notifications(scene):
    bob, _ = await scene()
    conn = RecordingConnection(bob)
    hello = await frames.on_authenticated(conn)
    assert hello["notifications_unread"] == 1
    assert await status(bob) == "online"
    await frames.on_disconnect(conn)
    assert await status(bob) == "offline"


async def test_typing_and_presence_frames(scene):
    bob, room = await scene()
    conn = RecordingConnection(bob)
    await frames.on_authenticated(conn)
    await frames.handle(conn, {"type": "typing", "room": room.pk, "state": "start"})
    assert "typing" in conn.state  # the typist's limiter lives with the connection
    with pytest.raises(NotFound):  # not a room of this connection
        await frames.handle(conn, {"type": "typing", "room": room.pk + 100, "state": "start"})
    with pytest.raises(FieldErrors):
        await frames.handle(conn, {"type": "typing", "room": room.pk, "state": "maybe"})
    await frames.handle(conn, {"type": "presence", "status": "away"})
    assert await status(bob) == "away"
    with pytest.raises(FieldErrors):
        await frames.handle(conn, {"type": "presence", "status": "invisible"})
    await frames.on_disconnect(conn)
