"""How rooms look on the wire, for every door and event."""

from typing import Any

from accounts.wire import user_public
from chatproject.wire import wire_time
from rooms.models import Room


def room_data(room: Room, *, members: list | None = None) -> dict[str, Any]:
    """A room; `members` (users) only for direct conversations, whose names are their members."""
    data = {
        "id": room.pk,
        "kind": room.kind,
        "name": room.name,
        "topic": room.topic,
        "created_by": room.created_by_id,
        "created_at": wire_time(room.created_at),
        "last_seq": room.last_seq,
    }
    if members is not None:
        data["members"] = [user_public(user) for user in members]
    return data
