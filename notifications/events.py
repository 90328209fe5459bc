from typing import Any

from accounts.selectors import user_public
from chatproject.realtime import frame_event, publish_on_commit, user_topic
from notifications.models import Notification

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
SNIPPET_LENGTH = 140


def notification_data(notification: Notification) -> dict[str, Any]:
    actor = notification.actor
    message = notification.message
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "room": notification.room_id,
        "message": notification.message_id,
        "seq": message.seq if message is not None else None,
        "snippet": (message.body[:SNIPPET_LENGTH] if message is not None and not message.deleted else ""),
        "actor": user_public(actor) if actor is not None else None,
        "created_at": notification.created_at.strftime(TIME_FORMAT),
        "read_at": notification.read_at.strftime(TIME_FORMAT) if notification.read_at else None,
    }


def notification_new(*, notification: Notification) -> None:
    frame = {"type": "notification", "notification": notification_data(notification)}
    publish_on_commit(user_topic(notification.recipient_id), frame_event(frame))
