"""The caller's room list (the layout's room list, `rooms/`): rooms with unread counts
from `rooms`, and each room's last message from `messaging`."""

from django.db.models import Count

from accounts.models import User
from messaging.selectors import last_messages
from rooms.models import Membership
from rooms.selectors import room_get_visible, rooms_for_user, unread_count
from rooms.wire import room_data


def membership_summary(membership: Membership, last_message: dict | None) -> dict:
    room = membership.room
    members = getattr(room, "members_prefetched", None) if room.is_direct else None
    return {
        **room_data(room, members=[m.user for m in members] if members is not None else None),
        "role": membership.role,
        "member_count": getattr(membership, "member_count", None),
        "unread_count": unread_count(membership),
        "read_seq": membership.read_seq,
        "delivered_seq": membership.delivered_seq,
        "last_message": last_message,
    }


def room_list_for_user(*, user: User) -> list[dict]:
    """Every room of the user, newest activity first, in a fixed number of queries."""
    memberships = list(rooms_for_user(user=user))
    last = last_messages(
        room_ids=[m.room_id for m in memberships], last_seqs={m.room_id: m.room.last_seq for m in memberships}
    )
    return [membership_summary(m, last.get(m.room_id)) for m in memberships]


def room_detail_for_user(*, user: User, room_id: int) -> dict:
    """One room as its member sees it in the list, or as a visitor sees a public room."""
    room = room_get_visible(user=user, room_id=room_id)
    membership = rooms_for_user(user=user).filter(room_id=room.pk).first()
    if membership is None:
        count = type(room).objects.filter(pk=room.pk).aggregate(n=Count("memberships"))["n"]
        return {**room_data(room), "member_count": count}
    last = last_messages(room_ids=[room.pk], last_seqs={room.pk: room.last_seq})
    return membership_summary(membership, last.get(room.pk))
