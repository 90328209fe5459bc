"""Frame handlers of the `/ws/` door, by frame type. Each parses, calls a service, answers.

Higher apps add handlers for their own frame types with `register()` from their
AppConfig.ready() (notifications: `typing`, `presence`), and add to `hello` through
messaging.hooks.connection_opened.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from accounts.wire import user_public
from chatproject.db import db_call
from chatproject.errors import FieldErrors, Invalid
from messaging import selectors, services
from messaging.hooks import connection_closed, connection_opened
from rooms import services as room_services
from rooms.selectors import room_ids_for_user

FrameHandler = Callable[[Any, dict], Awaitable[None]]


def int_field(frame: dict, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FieldErrors({name: [f"Must be an integer of at least {minimum}."]})
    return value


def str_field(frame: dict, name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise FieldErrors({name: ["Must be a string."]})
    return value


async def on_authenticated(consumer) -> dict[str, Any]:
    """Subscribes the connection to its user's rooms and builds `hello`."""
    user_id = consumer.user.pk
    rooms = await db_call(room_ids_for_user)(user_id=user_id)
    for room_id, _, _ in rooms:
        consumer.join_room(room_id)
    # Read the markers again once subscribed: a message committed in between is then
    # either delivered live or counted in last_seq, never neither.
    rooms = await db_call(room_ids_for_user)(user_id=user_id)
    extras: dict[str, Any] = {}
    for answer in await connection_opened.asend(conn=consumer):
        extras.update(answer)
    return {
        "type": "hello",
        "user": user_public(consumer.user),
        "rooms": [
            {"id": room_id, "last_seq": last_seq, "unread_count": max(last_seq - read_seq, 0)}
            for room_id, last_seq, read_seq in rooms
        ],
        **extras,
    }


async def on_disconnect(consumer) -> None:
    await consumer.flush_markers()
    await connection_closed.asend(conn=consumer)


async def handle_ping(consumer, frame: dict) -> None:
    await consumer.send_frame({"type": "pong"})


async def handle_message_send(consumer, frame: dict) -> None:
    client_id = str_field(frame, "client_id")
    result = await db_call(services.message_send)(
        sender=consumer.user,
        room_id=int_field(frame, "room", minimum=1),
        body=frame.get("body"),
        client_id=client_id,
        reply_to=int_field(frame, "reply_to", required=False, minimum=1),
        skip_conn=consumer.conn_id,
    )
    await consumer.send_frame({"type": "message.ack", "client_id": client_id, "message": result.data})


async def handle_sync(consumer, frame: dict) -> None:
    room_id = int_field(frame, "room", minimum=1)
    messages, has_more = await db_call(selectors.message_history)(
        user=consumer.user,
        room_id=room_id,
        after=int_field(frame, "after"),
        limit=int_field(frame, "limit", required=False, minimum=1) or selectors.HISTORY_MAX_LIMIT,
    )
    await consumer.send_frame({"type": "sync", "room": room_id, "messages": messages, "has_more": has_more})


async def handle_marker(consumer, frame: dict) -> None:
    """Coalesced: a burst of read/delivered frames becomes one move per room and kind."""
    room_id, up_to = int_field(frame, "room", minimum=1), int_field(frame, "up_to")
    consumer.queue_marker(room_id, up_to, read=frame["type"] == "read")


async def move_marker(consumer, room_id: int, up_to: int, read: bool) -> None:
    await db_call(room_services.marker_move)(
        user=consumer.user, room_id=room_id, up_to=up_to, read=read, skip_conn=consumer.conn_id
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


async def handle(consumer, frame: dict) -> None:
    kind = frame.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise Invalid(f"Unknown frame type: {str(kind)[:40]!r}.")
    await handler(consumer, frame)
