"""The access matrix, WebSocket door: every frame, and every live event, by room kind and actor.

The same table runs twice: in process (Channels' communicator, the consumer itself) and
on the wire through a real daphne process (ServerProcess), since what reaches a socket
can differ there. The world (testsupport/access.py) is committed once per class, so
that the server process and the consumer's database threads see it, and flushed after.
Cells that store something (a send, a marker) change nothing another cell looks at.

Columns as in test_access_matrix.py: anonymous, outsider, member, removed, inactive
(banned), moderator, owner. Outcomes: `ack`, `sync` (the answer frame), `ok` (no error
frame: typing and markers answer nothing), an error frame's code, or a close code.
"""

import asyncio
import json

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from accounts.tests.factories import access_token
from chatproject.realtime import frame_event, publish, user_topic
from chatproject.testing import ServerProcess, database_url_for_tests
from conftest import needs_services
from messaging import services as messages
from notifications import events as notification_events
from rooms import services as rooms
from testsupport.access import ACTORS, KINDS, actor, build_world, cell_id, cells
from testsupport.wsclient import bearer, communicator

# `django_db` so that pytest-django makes the test database (it makes only those some test
# asks for); each test's own transaction holds nothing: what the doors read is the world
# committed by the fixture, through the consumer's and the server's own connections.
pytestmark = [pytest.mark.services, pytest.mark.django_db]

ROOMS_OF = {"outsider": [], "member": KINDS, "removed": [], "moderator": [], "owner": KINDS}
SERVER_PORTS = range(18300, 18400)


class Closed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(code)
        self.code = code


class InProcess:
    """A socket on the consumer through Channels' communicator."""

    def __init__(self, comm) -> None:
        self.comm = comm

    @classmethod
    async def open(cls, server, user) -> "InProcess":
        comm = communicator(bearer(user)) if user is not None else communicator()
        connected, _ = await comm.connect()
        assert connected
        return cls(comm)

    async def send(self, frame: dict) -> None:
        await self.comm.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout: float) -> dict | None:
        # receive_output's own timeout would cancel the application: wait here instead.
        if await self.comm.receive_nothing(timeout=timeout):
            return None
        output = await self.comm.receive_output()
        if output["type"] == "websocket.close":
            raise Closed(output.get("code"))
        return json.loads(output["text"])

    async def close(self) -> None:
        await self.comm.disconnect()


class OnTheWire:
    """A socket to a real server process."""

    def __init__(self, ws) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, server, user) -> "OnTheWire":
        headers = {"Authorization": f"Bearer {access_token(user)}"} if user is not None else {}
        return cls(await websockets.connect(server.ws, additional_headers=headers, open_timeout=15))

    async def send(self, frame: dict) -> None:
        try:
            await self.ws.send(json.dumps(frame))
        except websockets.ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None) from None

    async def recv(self, timeout: float) -> dict | None:
        try:
            return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        except TimeoutError:
            return None
        except websockets.ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None) from None

    async def close(self) -> None:
        await self.ws.close()


# --- the world, committed, and the server -------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    needs_services(postgres=True, redis=True)
    assert settings.DATABASES["default"]["NAME"].startswith("test_"), "never the real database"
    storage = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path_factory.mktemp("media")},
        },
    }
    with override_settings(STORAGES=storage, THROTTLE_DISABLED=True), django_db_blocker.unblock():
        try:
            yield build_world()
        finally:
            # As a transactional test ends: empty tables (post_migrate makes the permissions again).
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def w(world, django_db_blocker, settings):
    settings.MARKER_COALESCE_SECONDS = 0.02  # in process; the server keeps its 0.25 s
    with django_db_blocker.unblock():
        yield world


def free_port_in_range() -> int:
    import socket

    for port in SERVER_PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18399")


@pytest.fixture(scope="module")
def daphne(world, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL}
    log = tmp_path_factory.mktemp("server") / "daphne.log"
    with ServerProcess(env, port=free_port_in_range(), log=log, server="daphne") as server:
        yield server


@pytest.fixture(params=["channels", "daphne"])
def door(request):
    """(socket class, server): the consumer in process, or daphne on the wire."""
    if request.param == "channels":
        return InProcess, None
    return OnTheWire, request.getfixturevalue("daphne")


# --- helpers ------------------------------------------------------------------------------

NOISE = {"presence", "receipt", "typing", "room.updated", "notification", "message.new", "message.updated"}


async def until(sock, wanted: set[str], timeout: float = 5) -> dict:
    """The next frame of one of these types (or an error frame), skipping other traffic."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (left := deadline - loop.time()) > 0:
        frame = await sock.recv(left)
        if frame is not None and (frame["type"] in wanted or frame["type"] == "error"):
            return frame
    raise AssertionError(f"no {wanted} frame within {timeout} s")


async def connect(kind_of_socket, server, user):
    sock = await kind_of_socket.open(server, user)
    hello = await until(sock, {"hello"})
    assert hello["type"] == "hello", hello
    return sock, hello


def assert_no_secrets(w, name: str, frame: dict) -> None:
    if name == "member":
        return
    allowed = {"owner", "moderator"}
    words = ["draft-unsent"] if name in allowed else w.secrets
    text = json.dumps(frame)
    assert not [word for word in words if word in text], f"{name} was sent {frame}"


# --- frames ---------------------------------------------------------------------------------

_ids = iter(range(1, 10**9))


def frame_for(door_name: str, w, kind: str) -> dict:
    room = w.rooms[kind].pk
    return {
        "message.send": {"type": "message.send", "room": room, "body": "hi", "client_id": f"mx-{next(_ids)}"},
        "sync": {"type": "sync", "room": room, "after": 0},
        "read": {"type": "read", "room": room, "up_to": 1},
        "delivered": {"type": "delivered", "room": room, "up_to": 1},
        "typing": {"type": "typing", "room": room, "state": "start"},
    }[door_name]


ANSWERS = {"message.send": {"message.ack"}, "sync": {"sync"}}
OUTCOME_OF = {"message.ack": "ack", "sync": "sync"}

# Errors name the contract's codes: a room the actor may not see is `not_found`, a room
# they see but may not act in `permission_denied` (as the REST door's 404 and 403).
WS_EXPECTED = {
    #                 public                                                      private / direct
    "message.send": (
        "- permission_denied ack permission_denied - permission_denied ack",
        "- not_found ack not_found - permission_denied ack",
        "- not_found ack not_found - permission_denied ack",
    ),
    "sync": (
        "- sync sync sync - sync sync",
        "- not_found sync not_found - sync sync",
        "- not_found sync not_found - sync sync",
    ),
    "read": (
        "- permission_denied ok permission_denied - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
    ),
    "delivered": (
        "- permission_denied ok permission_denied - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
    ),
    "typing": (
        "- permission_denied ok permission_denied - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
        "- not_found ok not_found - permission_denied ok",
    ),
}


async def outcome_of_frame(sock, door_name: str, frame: dict, server) -> dict:
    await sock.send(frame)
    if door_name in ANSWERS:
        return await until(sock, ANSWERS[door_name])
    if door_name in ("read", "delivered"):  # coalesced: an error comes after the delay, if at all
        await asyncio.sleep(0.35 if server is not None else 0.1)
    await sock.send({"type": "ping"})
    return await until(sock, {"pong"})


@pytest.mark.parametrize("frame_type,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(WS_EXPECTED)])
async def test_frames(w, door, frame_type, kind, name, outcome):
    kind_of_socket, server = door
    sock, _ = await connect(kind_of_socket, server, actor(w, name))
    try:
        answer = await outcome_of_frame(sock, frame_type, frame_for(frame_type, w, kind), server)
    finally:
        await sock.close()
    assert_no_secrets(w, name, answer)
    if answer["type"] == "error":
        assert answer["code"] == outcome, answer
    elif answer["type"] == "pong":
        assert outcome == "ok", answer
    else:
        assert OUTCOME_OF[answer["type"]] == outcome, answer
    if outcome == "sync":
        assert w.messages[kind].pk in {m["id"] for m in answer["messages"]}


CONNECTION_EXPECTED = {
    # A missing credential, or a banned user's token: accepted, then closed with 4401.
    "connect": ("4401 hello hello hello 4401 hello hello",),
    "presence": ("- ok ok ok - ok ok",),
    "ping": ("- ok ok ok - ok ok",),
}


@pytest.mark.parametrize(
    "frame_type,kind,name,outcome",
    [pytest.param(*c, id=cell_id(*c)) for c in cells(CONNECTION_EXPECTED, kinds=("any",))],
)
async def test_connection(w, door, frame_type, kind, name, outcome):
    kind_of_socket, server = door
    user = actor(w, name)
    sock = await kind_of_socket.open(server, user)
    try:
        if outcome == "4401":
            with pytest.raises(Closed) as closed:
                await sock.send({"type": "ping"})  # not an auth frame: closes at once
                await until(sock, {"hello", "pong"})
            assert closed.value.code == 4401
            return
        hello = await until(sock, {"hello"})
        assert_no_secrets(w, name, hello)
        # `hello` lists exactly the actor's rooms, not the ones they left or may only see.
        assert sorted(r["id"] for r in hello["rooms"]) == sorted(w.rooms[k].pk for k in ROOMS_OF[name])
        if frame_type == "presence":
            await sock.send({"type": "presence", "status": "away"})
        await sock.send({"type": "ping"})
        assert (await until(sock, {"pong"}))["type"] == "pong"
    finally:
        await sock.close()


# --- live events ------------------------------------------------------------------------------

LIVE_EXPECTED = {
    # Does the actor's socket hear what happens in the room? Only its members' sockets do.
    "live": ("- deaf hears deaf - deaf hears",) * 3,
}


def room_of(frame: dict) -> int | None:
    room = frame.get("room")
    if isinstance(room, dict):
        return room.get("id")
    if room is None and isinstance(frame.get("message"), dict):
        return frame["message"].get("room")
    return room


async def happenings(w, kind: str) -> int:
    """`other` (a member, not an actor) sends, edits and types; the owner reads it and renames the room."""
    room = w.rooms[kind]
    sent = await db(messages.message_send)(sender=w.other, room_id=room.pk, body=f"live {kind} zebra", client_id=None)
    await db(messages.message_edit)(actor=w.other, message_id=sent.message.pk, body=f"live {kind} zebra again")
    await db(rooms.marker_move)(user=w.owner, room_id=room.pk, up_to=sent.message.seq, read=True)
    notification_events.typing(user=w.other, room_id=room.pk, state="start")
    if kind != "direct":
        await db(rooms.room_update)(actor=w.owner, room_id=room.pk, topic=f"topic {sent.message.pk}")
    return sent.message.pk


async def heard(sock, w, user, room_id: int, *, want: set[str] = frozenset()) -> list[dict]:
    """Every frame about the room until a sentinel sent to the user after the happenings.

    The sentinel travels the same way as the room's events (published from the same
    thread, through the same hub), so it comes after them; `want` waits for those types
    too, in case Redis hands the user's channel over first.
    """
    await db(publish)(user_topic(user.pk), frame_event({"type": "sentinel"}))
    about, seen_sentinel = [], False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while (left := deadline - loop.time()) > 0:
        frame = await sock.recv(min(left, 0.15) if seen_sentinel else left)
        if frame is None:
            if seen_sentinel:
                break
            continue
        if frame["type"] == "sentinel":
            seen_sentinel = True
        elif room_of(frame) == room_id:
            about.append(frame)
        if seen_sentinel and want <= {f["type"] for f in about}:
            break
    assert seen_sentinel, "the sentinel never came"
    return about


@pytest.mark.parametrize(
    "door_name,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(LIVE_EXPECTED)]
)
async def test_live_events(w, door, door_name, kind, name, outcome):
    kind_of_socket, server = door
    sock, _ = await connect(kind_of_socket, server, actor(w, name))
    try:
        sent_id = await happenings(w, kind)
        want = {"message.new", "message.updated", "receipt", "typing"} if outcome == "hears" else set()
        frames = await heard(sock, w, actor(w, name), w.rooms[kind].pk, want=want)
    finally:
        await sock.close()
    if outcome == "hears":
        types = {f["type"] for f in frames}
        assert {"message.new", "message.updated", "receipt", "typing"} <= types, types
        assert sent_id in {f["message"]["id"] for f in frames if f["type"] == "message.new"}
    else:
        assert frames == [], f"{name} heard {frames}"


async def test_a_member_removed_while_connected_hears_nothing_more(w, door):
    kind_of_socket, server = door
    room = w.rooms["private"]
    await db(rooms.member_add)(actor=w.owner, room_id=room.pk, user_id=w.newcomer.pk)
    sock, hello = await connect(kind_of_socket, server, w.newcomer)
    try:
        assert room.pk in {r["id"] for r in hello["rooms"]}
        await db(rooms.member_remove)(actor=w.owner, room_id=room.pk, user_id=w.newcomer.pk)
        left = await until(sock, {"room.left"})
        assert (left["type"], left["room"]["id"], left["reason"]) == ("room.left", room.pk, "removed")
        await happenings(w, "private")
        assert await heard(sock, w, w.newcomer, room.pk) == []
        for frame_type in ("sync", "message.send", "typing"):  # and every frame about it is refused
            answer = await outcome_of_frame(sock, frame_type, frame_for(frame_type, w, "private"), server)
            assert (answer["type"], answer.get("code")) == ("error", "not_found"), answer
            assert_no_secrets(w, "outsider", answer)
    finally:
        await sock.close()


def test_the_ws_matrix_covers_every_actor():
    for table in (WS_EXPECTED, CONNECTION_EXPECTED, LIVE_EXPECTED):
        for rows in table.values():
            assert all(len(row.split()) == len(ACTORS) for row in rows)
