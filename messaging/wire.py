"""How messages look on the wire, for every door and event; and what counts as a @mention."""

import re
from typing import Any

from accounts.wire import user_public
from chatproject.wire import wire_time
from messaging.models import Attachment, Message

# @name where name is a Django username; not inside words or e-mail addresses. The one
# definition: notifications finds mentions with it, the page highlights them with it,
# and static/js/render.js spells the same rule in JavaScript.
MENTION_PATTERN = r"(?<![\w@])@(?P<name>[\w.+-]+[\w+-]|[\w])"
MENTION = re.compile(MENTION_PATTERN, re.UNICODE)


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
    """A message; `status` is the sender's view (sent, delivered, read) from the markers."""
    sender = message.sender
    return {
        "id": message.pk,
        "seq": message.seq,
        "room": message.room_id,
        "sender": user_public(sender) if sender is not None else None,
        "body": "" if message.deleted else message.body,
        "client_id": message.client_id,
        "created_at": wire_time(message.created_at),
        "edited_at": wire_time(message.edited_at),
        "deleted": message.deleted,
        "reply_to": message.reply_to_id,
        "attachments": _attachments(message),
        "status": status,
    }
