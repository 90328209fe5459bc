"""Channel-layer plumbing shared by every app's events.py.

Frames are serialized to JSON once, when published; each connection forwards the
text as it is, so fan-out to N connections costs N socket writes and no encoding.
"""

import logging
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def frame_event(frame: dict[str, Any], **routing: Any) -> dict[str, Any]:
    """A channel-layer event that connections forward as-is.

    `routing` may hold `room` (forward only while subscribed to it), `skip_channel`
    (not to this connection) and `skip_user` (not to this user's connections).
    """
    return {"type": "chat.frame", "text": dumps(frame), **routing}


def send_to_group(group: str, event: dict[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, event)
    except Exception:
        # The database already holds the truth; a lost hint costs clients a sync.
        logger.exception("channel layer send failed", extra={"group": group})


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    """Publishes once the surrounding transaction commits, never for rolled-back data."""
    transaction.on_commit(lambda: send_to_group(group, event))
