"""Reads of messages: history, sync, last messages, with statuses from the markers."""

from accounts.models import User
from chatproject.errors import FieldErrors, NotFound
from chatproject.ids import int_param
from messaging.events import message_data
from messaging.models import Message
from rooms.selectors import marker_floors, room_check_visible, room_get_visible

HISTORY_MAX_LIMIT = 200
HISTORY_DEFAULT_LIMIT = 50


def _cursor(name: str, value) -> int | None:
    return int_param(value, field=name, required=False)


def _limit(value) -> int:
    limit = int_param(value, field="limit", minimum=1, required=False)
    if limit is None:
        return HISTORY_DEFAULT_LIMIT
    if limit > HISTORY_MAX_LIMIT:
        raise FieldErrors({"limit": [f"Must be between 1 and {HISTORY_MAX_LIMIT}."]})
    return limit


def with_statuses(messages: list[Message], room_id: int) -> list[dict]:
    floors = marker_floors(room_ids=[room_id])[room_id]
    return [message_data(m, floors.status(sender_id=m.sender_id, seq=m.seq)) for m in messages]


def message_page(*, room_id: int, before=None, after=None, limit=None) -> tuple[list[Message], bool]:
    """Messages of a room ascending by seq, walking the (room, seq) unique index.

    `after` alone pages forward (sync); otherwise the newest `limit` before `before`.
    Trusts the caller to have checked access.
    """
    before, after, limit = _cursor("before", before), _cursor("after", after), _limit(limit)
    messages = Message.objects.for_wire().filter(room_id=room_id)
    if after is not None:
        messages = messages.filter(seq__gt=after)
    if before is not None:
        messages = messages.filter(seq__lt=before)
    if after is not None:
        page = list(messages.order_by("seq")[: limit + 1])
        return page[:limit], len(page) > limit
    page = list(messages.order_by("-seq")[: limit + 1])
    return list(reversed(page[:limit])), len(page) > limit


def message_history(*, user: User, room_id: int, before=None, after=None, limit=None) -> tuple[list[dict], bool]:
    """A page of a visible room's history, in the wire shape; NotFound for hidden rooms."""
    room = room_get_visible(user=user, room_id=room_id)
    messages, has_more = message_page(room_id=room.pk, before=before, after=after, limit=limit)
    return with_statuses(messages, room.pk), has_more


def message_get_visible(*, user: User, message_id: int) -> Message:
    message = Message.objects.for_wire().select_related("room").filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    try:
        room_check_visible(user=user, room=message.room)
    except NotFound:
        raise NotFound("Message not found.") from None
    return message


def last_messages(*, room_ids: list[int], last_seqs: dict[int, int]) -> dict[int, dict]:
    """Each room's newest message in the wire shape, in three queries for any number of rooms."""
    wanted = {room_id: seq for room_id, seq in last_seqs.items() if seq > 0}
    if not wanted:
        return {}
    from django.db.models import Q

    condition = Q()
    for room_id, seq in wanted.items():
        condition |= Q(room_id=room_id, seq=seq)
    messages = Message.objects.for_wire().filter(condition)
    floors = marker_floors(room_ids=list(wanted))
    return {m.room_id: message_data(m, floors[m.room_id].status(sender_id=m.sender_id, seq=m.seq)) for m in messages}


def message_receipts(*, user: User, message_id: int) -> list[dict]:
    """Each other member's state for a message, from their markers: two queries."""
    from accounts.selectors import user_public
    from rooms.selectors import room_members

    message = message_get_visible(user=user, message_id=message_id)
    receipts = []
    for membership in room_members(room=message.room):
        if membership.user_id == message.sender_id:
            continue
        if membership.read_seq >= message.seq:
            status = "read"
        elif membership.delivered_seq >= message.seq:
            status = "delivered"
        else:
            status = "sent"
        receipts.append({"user": user_public(membership.user), "status": status})
    return receipts
