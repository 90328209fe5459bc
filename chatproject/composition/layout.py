"""What every page of the chat UI shows around its content (templates/chat/layout.html):
the room list, presence, counters.

Presentation only: the rows come from room_list (the same list as GET rooms/), the
presence from notifications.presence, and this module only names and groups them.
"""

from typing import Any

from accounts.models import User
from chatproject.composition.room_list import room_list_for_user
from notifications.presence import presence_statuses
from notifications.selectors import unread_notification_count


def room_title(room: dict, *, viewer_id: int) -> str:
    """The room's name, or for a direct conversation the other people's names."""
    if room["kind"] != "direct":
        return room["name"]
    others = [m["display_name"] for m in room.get("members") or [] if m["id"] != viewer_id]
    return ", ".join(others) or "Just you"


def _other_user(room: dict, viewer_id: int) -> int | None:
    others = [m["id"] for m in room.get("members") or [] if m["id"] != viewer_id]
    return others[0] if len(others) == 1 else None


def sidebar_rooms(*, user: User) -> list[dict[str, Any]]:
    """The user's rooms, newest activity first, each with its title and (1:1 direct) the other's presence."""
    rooms = room_list_for_user(user=user)
    for room in rooms:
        room["title"] = room_title(room, viewer_id=user.pk)
        room["other_user"] = _other_user(room, user.pk) if room["kind"] == "direct" else None
    others = sorted({room["other_user"] for room in rooms if room["other_user"]})
    presence = presence_statuses(user_ids=others)
    for room in rooms:
        if room["other_user"]:
            room["presence"] = presence[room["other_user"]]
    return rooms


def layout_context(*, user: User, current_room_id: int | None = None) -> dict[str, Any]:
    """The layout's template context; `layout_state` is what static/js reads from the page."""
    rooms = sidebar_rooms(user=user)
    notifications_unread = unread_notification_count(user_id=user.pk)
    return {
        "sidebar_rooms": [r for r in rooms if r["kind"] != "direct"],
        "sidebar_directs": [r for r in rooms if r["kind"] == "direct"],
        "current_room_id": current_room_id,
        "total_unread": sum(r["unread_count"] for r in rooms),
        "notifications_unread": notifications_unread,
        "layout_state": {
            "user": {"id": user.pk, "username": user.username, "display_name": user.shown_name},
            "rooms": [
                {
                    key: room.get(key)
                    for key in ("id", "kind", "title", "unread_count", "last_seq", "other_user", "presence")
                }
                for room in rooms
            ],
            "notifications_unread": notifications_unread,
        },
    }
