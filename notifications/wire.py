"""How notifications and presence look on the wire, for every door and event."""

from typing import Any

from accounts.wire import user_public
from chatproject.wire import wire_time
from notifications.models import Notification

SNIPPET_LENGTH = 140


def notification_data(notification: Notification) -> dict[str, Any]:
    actor = notification.actor
    message = notification.message
    # Read from the inbox (notifications.selectors) a notification knows whether its
    # recipient still sees its room; a new one is for a member.
    shown = message is not None and not message.deleted and getattr(notification, "recipient_sees_room", True)
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "room": notification.room_id,
        "message": notification.message_id,
        "seq": message.seq if message is not None else None,
        "snippet": message.body[:SNIPPET_LENGTH] if shown else "",
        "actor": user_public(actor) if actor is not None else None,
        "created_at": wire_time(notification.created_at),
        "read_at": wire_time(notification.read_at),
    }


def presence_data(*, status: str, last_seen: str | None) -> dict[str, Any]:
    """One user's presence, as `presence/` answers and `presence` frames carry it."""
    return {"status": status, "last_seen": last_seen}
