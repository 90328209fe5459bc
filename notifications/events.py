"""Notification, presence and typing events: who hears what, and when.

Notifications publish after commit. Presence and typing are not stored in a
transaction, so they publish at once.
"""

from typing import Any

from accounts.wire import user_public
from chatproject.realtime import frame_event, publish, publish_on_commit, room_topic, user_topic
from notifications.models import Notification
from notifications.wire import notification_data, presence_data


def notification_new(*, notification: Notification) -> None:
    frame = {"type": "notification", "notification": notification_data(notification)}
    publish_on_commit(user_topic(notification.recipient_id), frame_event(frame))


def presence_frame(*, user_id: int, status: str, last_seen: str | None) -> dict[str, Any]:
    return {"type": "presence", "user": user_id, **presence_data(status=status, last_seen=last_seen)}


def presence_changed(*, user_id: int, room_ids, status: str, last_seen: str | None) -> None:
    """Tells the user's rooms; not the user's own connections."""
    frame = presence_frame(user_id=user_id, status=status, last_seen=last_seen)
    # One event naming all the user's rooms: each connection gets it once, however many
    # rooms it shares with the user.
    publish([room_topic(room_id) for room_id in room_ids], frame_event(frame, skip_user=user_id))


def typing(*, user, room_id: int, state: str) -> None:
    """To the room's other members' connections (not to the typist's own)."""
    frame = {"type": "typing", "room": room_id, "user": user_public(user), "state": state}
    publish(room_topic(room_id), frame_event(frame, skip_user=user.pk))
