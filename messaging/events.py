"""Message frames: one shape for REST and WebSocket, serialized once per event."""

from typing import Any

from accounts.selectors import user_public
from chatproject.realtime import frame_event, publish_on_commit, room_topic
from messaging.models import Attachment, Message

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _time(value) -> str | None:
    return value.strftime(TIME_FORMAT) if value is not None else None


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    """The attachment object of the contract; URLs are paths on this server (Bearer or cookie)."""
    base = f"/api/v1/attachments/{attachment.pk}/"
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": base + "download/",
        "thumbnail_url": base + "thumbnail/" if attachment.thumbnail else None,
        "width": attachment.width,
        "height": attachment.height,
    }


def _attachments(message: Message) -> list[dict[str, Any]]:
    if message.deleted:
        return []
    shown = getattr(message, "shown_attachments", None)
    if shown is None:  # not loaded through Message.objects.for_wire(): one query
        shown = list(Attachment.objects.shown().filter(message=message))
    return [attachment_data(a) for a in shown]


def message_data(message: Message, status: str = "sent") -> dict[str, Any]:
    sender = message.sender
    return {
        "id": message.pk,
        "seq": message.seq,
        "room": message.room_id,
        "sender": user_public(sender) if sender is not None else None,
        "body": "" if message.deleted else message.body,
        "client_id": message.client_id,
        "created_at": _time(message.created_at),
        "edited_at": _time(message.edited_at),
        "deleted": message.deleted,
        "reply_to": message.reply_to_id,
        "attachments": _attachments(message),
        "status": status,
    }


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
