"""Message events: who hears what, published after commit, serialized once per event."""

from typing import Any

from chatproject.realtime import frame_event, publish_on_commit, room_topic
from messaging.models import Message
from messaging.wire import message_data


def message_new(*, message: Message, skip_conn: str | None = None) -> dict[str, Any]:
    """Publishes message.new to the room after commit; returns the message's wire shape."""
    data = message_data(message)
    publish_on_commit(
        room_topic(message.room_id), frame_event({"type": "message.new", "message": data}, skip_conn=skip_conn)
    )
    return data


def message_updated(*, message: Message, status: str) -> None:
    frame = {"type": "message.updated", "message": message_data(message, status)}
    publish_on_commit(room_topic(message.room_id), frame_event(frame))


def message_deleted(*, message: Message) -> None:
    frame = {"type": "message.deleted", "room": message.room_id, "id": message.pk, "seq": message.seq}
    publish_on_commit(room_topic(message.room_id), frame_event(frame))
