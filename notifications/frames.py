"""What notifications adds to the `/ws/` door: presence and typing frames, and the
connection's presence and unread count. Connected in NotificationsConfig.ready()."""

from typing import Any

from chatproject.db import db_call
from messaging.frames import Connection, int_field
from notifications import presence
from notifications.selectors import unread_notification_count
from notifications.typing import TypingLimiter, typing_relay


async def on_connection_opened(*, conn: Connection) -> dict[str, Any]:
    """The connection counts towards its user's presence; `hello` gets the unread count."""
    await presence.presence_connect(user_id=conn.user_id, conn_id=conn.conn_id, room_ids=conn.rooms)
    return {"notifications_unread": await db_call(unread_notification_count)(user_id=conn.user_id)}


async def on_connection_closed(*, conn: Connection) -> None:
    await presence.presence_disconnect(user_id=conn.user_id, conn_id=conn.conn_id, room_ids=conn.rooms)


async def handle_typing(conn: Connection, frame: dict) -> None:
    await typing_relay(
        user=conn.user,
        room_id=int_field(frame, "room", minimum=1),
        state=frame.get("state"),
        member_of=conn.rooms,
        limiter=conn.conn_state("typing", TypingLimiter),
    )


async def handle_presence(conn: Connection, frame: dict) -> None:
    await presence.presence_set(
        user_id=conn.user_id, conn_id=conn.conn_id, status=frame.get("status"), room_ids=conn.rooms
    )
