"""Real-time frames about rooms and memberships: who hears what, published after commit."""

from typing import Any

from chatproject.realtime import dumps, frame_event, publish_on_commit, room_topic, user_topic
from rooms.models import Membership, Room
from rooms.wire import room_data


def joined(*, membership: Membership, room_payload: dict[str, Any]) -> None:
    """Tells the user's open connections to start receiving the room."""
    frame = {"type": "room.joined", "room": {**room_payload, "role": membership.role, "unread_count": 0}}
    publish_on_commit(
        user_topic(membership.user_id), {"kind": "room_joined", "room": membership.room_id, "text": dumps(frame)}
    )


def left(*, user_id: int, room_id: int, reason: str) -> None:
    """Stops delivery to the user's connections at once; `reason` is left, removed or deleted."""
    frame = {"type": "room.left", "room": {"id": room_id}, "reason": reason}
    publish_on_commit(user_topic(user_id), {"kind": "room_left", "room": room_id, "text": dumps(frame)})


def updated(*, room: Room, member_count: int | None = None) -> None:
    payload = room_data(room)
    if member_count is not None:
        payload["member_count"] = member_count
    publish_on_commit(room_topic(room.pk), frame_event({"type": "room.updated", "room": payload}))


def receipt(*, room_id: int, user_id: int, status: str, up_to: int, skip_conn: str | None = None) -> None:
    """A member's marker moved: their other devices and the other members hear of it."""
    frame = {"type": "receipt", "room": room_id, "user": user_id, "status": status, "up_to": up_to}
    publish_on_commit(room_topic(room_id), frame_event(frame, skip_conn=skip_conn))
