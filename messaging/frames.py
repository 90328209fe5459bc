"""Frame handlers of the `/ws/` door, by frame type. Each parses, calls a service, answers."""

from typing import Any

from accounts.selectors import user_public
from chatproject.db import db_call
from chatproject.errors import FieldErrors, Invalid
from chatproject.ids import int_value
from messaging import selectors, services
from notifications import presence
from notifications.selectors import unread_notification_count
from notifications.typing import typing_relay
from rooms import services as room_services
from rooms.selectors import room_ids_for_user


def _int_field(frame: dict, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
    return int_value(frame.get(name), field=name, minimum=minimum, required=required)


def _str_field(frame: dict, name: str) -> str:
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
    await presence.presence_connect(user_id=user_id, conn_id=consumer.conn_id, room_ids=consumer.rooms)
    return {
        "type": "hello",
        "user": user_public(consumer.user),
        "rooms": [
            {"id": room_id, "last_seq": last_seq, "unread_count": max(last_seq - read_seq, 0)}
            for room_id, last_seq, read_seq in rooms
        ],
        "notifications_unread": await db_call(unread_notification_count)(user_id=user_id),
    }


async def on_disconnect(consumer) -> None:
    await consumer.flush_markers()
    await presence.presence_disconnect(user_id=consumer.user_id, conn_id=consumer.conn_id, room_ids=consumer.rooms)


async def handle_ping(consumer, frame: dict) -> None:
    await consumer.send_frame({"type": "pong"})


async def handle_message_send(consumer, frame: dict) -> None:
    client_id = _str_field(frame, "client_id")
    result = await db_call(services.message_send)(
        sender=consumer.user,
        room_id=_int_field(frame, "room", minimum=1),
        body=frame.get("body"),
        client_id=client_id,
        reply_to=_int_field(frame, "reply_to", required=False, minimum=1),
        skip_conn=consumer.conn_id,
    )
    await consumer.send_frame({"type": "message.ack", "client_id": client_id, "message": result.data})


async def handle_sync(consumer, frame: dict) -> None:
    room_id = _int_field(frame, "room", minimum=1)
    messages, has_more = await db_call(selectors.message_history)(
        user=consumer.user,
        room_id=room_id,
        after=_int_field(frame, "after"),
        limit=_int_field(frame, "limit", required=False, minimum=1) or selectors.HISTORY_MAX_LIMIT,
    )
    await consumer.send_frame({"type": "sync", "room": room_id, "messages": messages, "has_more": has_more})


async def handle_typing(consumer, frame: dict) -> None:
    await typing_relay(
        user=consumer.user,
        room_id=_int_field(frame, "room", minimum=1),
        state=frame.get("state"),
        member_of=consumer.rooms,
        limiter=consumer.typing_limiter,
    )


async def handle_marker(consumer, frame: dict) -> None:
    """Coalesced: a burst of read/delivered frames becomes one move per room and kind."""
    room_id, up_to = _int_field(frame, "room", minimum=1), _int_field(frame, "up_to")
    consumer.queue_marker(room_id, up_to, read=frame["type"] == "read")


async def move_marker(consumer, room_id: int, up_to: int, read: bool) -> None:
    await db_call(room_services.marker_move)(
        user=consumer.user, room_id=room_id, up_to=up_to, read=read, skip_conn=consumer.conn_id
    )


async def handle_presence(consumer, frame: dict) -> None:
    await presence.presence_set(
        user_id=consumer.user_id, conn_id=consumer.conn_id, status=frame.get("status"), room_ids=consumer.rooms
    )


HANDLERS = {
    "ping": handle_ping,
    "message.send": handle_message_send,
    "sync": handle_sync,
    "typing": handle_typing,
    "read": handle_marker,
    "delivered": handle_marker,
    "presence": handle_presence,
}


async def handle(consumer, frame: dict) -> None:
    kind = frame.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise Invalid(f"Unknown frame type: {str(kind)[:40]!r}.")
    await handler(consumer, frame)
