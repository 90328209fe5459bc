"""Reads of messages: history, sync, last messages, with statuses from the markers."""

from accounts.models import User
from chatproject.errors import FieldErrors, NotFound, PermissionDenied
from chatproject.ids import int_param
from messaging.models import Attachment, Message
from messaging.wire import message_data
from rooms.models import Membership, Room
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


def message_page_around(*, room_id: int, around, limit=None) -> tuple[list[Message], bool, bool]:
    """About `limit` messages of a room centred on seq `around`, ascending; (page, older exist, newer exist).

    The message at `around` (or, if that seq does not exist, the first after it) comes right
    after the older half; near either end of the room the page fills up from the other side.
    Two range scans of the (room, seq) index. Trusts the caller to have checked access.
    """
    around, limit = _cursor("around", around), _limit(limit)
    messages = Message.objects.for_wire().filter(room_id=room_id)
    older = list(messages.filter(seq__lt=around).order_by("-seq")[: limit + 1])
    newer = list(messages.filter(seq__gte=around).order_by("seq")[: limit + 1])
    want_older = (limit - 1) // 2
    want_newer = limit - want_older
    if len(newer) < want_newer:
        want_older = limit - len(newer)
    elif len(older) < want_older:
        want_newer = limit - len(older)
    page = list(reversed(older[:want_older])) + newer[:want_newer]
    return page, len(older) > want_older, len(newer) > want_newer


def message_history_around(*, user: User, room_id: int, around, limit=None) -> tuple[list[dict], bool, bool]:
    """A page of a visible room's history around one seq, in the wire shape; NotFound for hidden rooms."""
    room = room_get_visible(user=user, room_id=room_id)
    messages, has_before, has_after = message_page_around(room_id=room.pk, around=around, limit=limit)
    return with_statuses(messages, room.pk), has_before, has_after


def message_get_visible(*, user: User, message_id: int) -> Message:
    # No attachments prefetch: receipts and deletes need none; the shape loads them on demand.
    message = Message.objects.select_related("sender", "room").filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    try:
        room_check_visible(user=user, room=message.room)
    except NotFound:
        raise NotFound("Message not found.") from None
    return message


def message_get_for_member(*, user: User, message_id: int) -> Message:
    """The message if the user belongs to its room, or is a site moderator.

    NotFound where its room is hidden from the user, PermissionDenied where the room is
    only visible (public). Two queries for a member, as message_get_visible.
    """
    message = Message.objects.select_related("sender", "room").filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    if Membership.objects.filter(room_id=message.room_id, user=user).exists() or user.is_moderator:
        return message
    if message.room.kind == Room.Kind.PUBLIC:
        raise PermissionDenied("Only the room's members see this.")
    raise NotFound("Message not found.")


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
    """Each other member's state for a message, from their markers: three queries (four for a moderator).

    For the room's members and site moderators only: a visitor of a public room may read
    its history, not when each member read it.
    """
    from accounts.wire import user_public
    from rooms.selectors import room_members

    message = message_get_for_member(user=user, message_id=message_id)
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


def attachment_get_for_download(*, user: User, attachment_id: int, thumbnail: bool = False) -> Attachment:
    """The one access rule for an attachment's bytes, by every download path.

    Its uploader, and members of the room of its message, may download it; to anyone
    else, and once removed (its message deleted, or a moderator took it out), it does
    not exist: NotFound, so ids reveal nothing. Two queries.
    """
    attachment = Attachment.objects.select_related("message").filter(pk=attachment_id, removed_at__isnull=True).first()
    if attachment is None or (thumbnail and not attachment.thumbnail):
        raise NotFound("Attachment not found.")
    message = attachment.message
    if message is not None and message.deleted:
        raise NotFound("Attachment not found.")
    if attachment.uploader_id == user.pk:
        return attachment
    if message is not None and Membership.objects.filter(room_id=message.room_id, user=user).exists():
        return attachment
    raise NotFound("Attachment not found.")
