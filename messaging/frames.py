"""Frame handlers of the `/ws/` door, by frame type. Each parses, calls a service, answers.

Handlers see their connection only through `Connection`, which the consumer
(messaging/consumers.py) implements; the consumer calls only `on_authenticated`,
`handle`, `move_marker` and `on_disconnect` here. Higher apps add handlers for their
own frame types with `register()` from their AppConfig.ready() (notifications:
`typing`, `presence`), and add to `hello` through messaging.hooks.connection_opened.
"""

from collections.abc import Awaitable, Callable, Iterable, Set
from typing import Any, Protocol, TypeVar

from accounts.models import User
from accounts.wire import user_public
from chatproject.db import db_call
from chatproject.errors import FieldErrors, Invalid
from chatproject.ids import int_value
from chatproject.metrics import MESSAGES_SENT
from messaging import selectors, services
from messaging.batching import send_batcher
from messaging.hooks import connection_closed, connection_opened
from rooms import services as room_services
from rooms.selectors import room_ids_for_user

T = TypeVar("T")


class Connection(Protocol):
    """What a frame handler may use of the connection it serves."""

    user: User
    user_id: int
    conn_id: str  # unique across processes; events name it to skip the sender's own echo
    rooms: Set[int]  # the rooms it receives; changes only through join_rooms and membership events

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Queues one frame for this connection's client (bounded; never waits for the network)."""

    async def join_rooms(self, room_ids: Iterable[int]) -> None:
        """Starts delivering these rooms' events; returns once every later event reaches it live."""

    def queue_marker(self, room_id: int, up_to: int, *, read: bool) -> None:
        """Moves a marker soon, coalesced with other marker frames (see messaging/markers.py)."""

    def conn_state(self, key: str, factory: Callable[[], T]) -> T:
        """Per-connection state a handler keeps (made by `factory` on first use)."""


FrameHandler = Callable[[Connection, dict], Awaitable[None]]


def int_field(frame: dict, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    """A frame's id or seq: a JSON integer from `minimum` to 2**63 - 1 (chatproject/ids.py), else `invalid`."""
    return int_value(frame.get(name), field=name, minimum=minimum, required=required)


def str_field(frame: dict, name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise FieldErrors({name: ["Must be a string."]})
    return value


async def on_authenticated(conn: Connection) -> dict[str, Any]:
    """Subscribes the connection to its user's rooms and builds `hello`."""
    user_id = conn.user.pk
    rooms = await db_call(room_ids_for_user)(user_id=user_id)
    await conn.join_rooms([room_id for room_id, _, _ in rooms])
    # Read the markers again once Redis confirmed the subscriptions: a message committed
    # in between is then either delivered live or counted in last_seq, never neither.
    rooms = await db_call(room_ids_for_user)(user_id=user_id)
    extras: dict[str, Any] = {}
    for answer in await connection_opened.asend(conn=conn):
        extras.update(answer)
    return {
        "type": "hello",
        "user": user_public(conn.user),
        "rooms": [
            {"id": room_id, "last_seq": last_seq, "unread_count": max(last_seq - read_seq, 0)}
            for room_id, last_seq, read_seq in rooms
        ],
        **extras,
    }


async def on_disconnect(conn: Connection) -> None:
    """After the connection's pending markers moved: tells the hook's receivers."""
    await connection_closed.asend(conn=conn)


async def handle_ping(conn: Connection, frame: dict) -> None:
    await conn.send_frame({"type": "pong"})


async def handle_message_send(conn: Connection, frame: dict) -> None:
    client_id = str_field(frame, "client_id")
    request = services.SendRequest(
        sender=conn.user,
        room_id=int_field(frame, "room", minimum=1),
        body=frame.get("body"),
        client_id=client_id,
        reply_to=int_field(frame, "reply_to", required=False, minimum=1),
        attachments=frame.get("attachments"),
        skip_conn=conn.conn_id,
    )
    result = await send_batcher().send(request)  # with the sends of other sockets that arrive meanwhile
    if result.created:  # a resend of the same client_id is not a second message
        MESSAGES_SENT.labels("ws").inc()
    await conn.send_frame({"type": "message.ack", "client_id": client_id, "message": result.data})


async def handle_sync(conn: Connection, frame: dict) -> None:
    room_id = int_field(frame, "room", minimum=1)
    messages, has_more = await db_call(selectors.message_history)(
        user=conn.user,
        room_id=room_id,
        after=int_field(frame, "after"),
        limit=int_field(frame, "limit", required=False, minimum=1) or selectors.HISTORY_MAX_LIMIT,
    )
    await conn.send_frame({"type": "sync", "room": room_id, "messages": messages, "has_more": has_more})


async def handle_marker(conn: Connection, frame: dict) -> None:
    """Coalesced: a burst of read/delivered frames becomes one move per room and kind."""
    room_id, up_to = int_field(frame, "room", minimum=1), int_field(frame, "up_to")
    conn.queue_marker(room_id, up_to, read=frame["type"] == "read")


async def move_marker(conn: Connection, room_id: int, up_to: int, read: bool) -> None:
    await db_call(room_services.marker_move)(
        user=conn.user, room_id=room_id, up_to=up_to, read=read, skip_conn=conn.conn_id
    )


HANDLERS: dict[str, FrameHandler] = {
    "ping": handle_ping,
    "message.send": handle_message_send,
    "sync": handle_sync,
    "read": handle_marker,
    "delivered": handle_marker,
}


def register(frame_type: str, handler: FrameHandler) -> None:
    """Adds a higher app's handler for its own frame type (from its AppConfig.ready())."""
    existing = HANDLERS.get(frame_type)
    if existing is not None and existing is not handler:
        raise ValueError(f"{frame_type!r} frames already have a handler")
    HANDLERS[frame_type] = handler


async def handle(conn: Connection, frame: dict) -> None:
    kind = frame.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise Invalid(f"Unknown frame type: {str(kind)[:40]!r}.")
    await handler(conn, frame)
