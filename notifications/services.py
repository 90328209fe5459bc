"""Notifications: created by the send and membership services, pushed live to the recipient."""

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from chatproject.tasks import enqueue
from messaging.wire import MENTION
from notifications import events
from notifications.models import Notification
from rooms.models import Room
from rooms.selectors import member_count, member_user_ids, member_usernames_matching

MAX_MENTIONS = 50


def mentioned_usernames(body: str) -> set[str]:
    return {name.lower() for name in MENTION.findall(body)[:MAX_MENTIONS]}


def _create(notifications: list[Notification]) -> list[Notification]:
    if not notifications:
        return []
    created = Notification.objects.bulk_create(notifications)
    for notification in created:
        events.notification_new(notification=notification)
    return created


def notify_for_message(*, message, room_kind: str) -> list[Notification]:
    """Direct messages notify the other members; elsewhere, @mentions of members do.

    Trusts its caller (the send path, inside its transaction). Never notifies the author,
    and a mention of someone outside the room creates nothing. In a room of more than
    NOTIFY_ON_QUEUE_MIN_MEMBERS members the task queue makes the notifications (enqueued in
    this transaction, so only for a stored message): a send there never waits for the fan-out.
    """
    room_id = message.room_id
    if room_kind == Room.Kind.DIRECT:
        members = member_user_ids(room_id=room_id)
        if len(members) <= settings.NOTIFY_ON_QUEUE_MIN_MEMBERS:
            return _notify_now(message=message, room_kind=room_kind, members=members)
    else:
        if not mentioned_usernames(message.body):
            return []
        if member_count(room_id=room_id) <= settings.NOTIFY_ON_QUEUE_MIN_MEMBERS:
            return _notify_now(message=message, room_kind=room_kind)
    from notifications.tasks import notify_for_message_later

    enqueue(notify_for_message_later, message.pk)
    return []


def _notify_now(*, message, room_kind: str, members: list[int] | None = None) -> list[Notification]:
    """Creates and publishes the notifications of one message. Trusts its caller."""
    room_id, sender_id = message.room_id, message.sender_id
    if room_kind == Room.Kind.DIRECT:
        members = members if members is not None else member_user_ids(room_id=room_id)
        recipients: Iterable[int] = [uid for uid in members if uid != sender_id]
        kind = Notification.Kind.DIRECT_MESSAGE
    else:
        names = mentioned_usernames(message.body)
        if not names:
            return []
        recipients = [uid for uid in member_usernames_matching(room_id=room_id, usernames=names) if uid != sender_id]
        kind = Notification.Kind.MENTION
    return _create(
        [
            Notification(recipient_id=uid, kind=kind, room_id=room_id, message=message, actor=message.sender)
            for uid in recipients
        ]
    )


@transaction.atomic
def notify_for_message_queued(*, message_id: int) -> int:
    """The worker's half of notify_for_message: the notifications of a message in a large room.

    A message deleted (or gone) before the worker got to it notifies nobody.
    """
    from messaging.models import Message

    message = Message.objects.select_related("room", "sender").filter(pk=message_id, deleted=False).first()
    if message is None:
        return 0
    return len(_notify_now(message=message, room_kind=message.room.kind))


def notify_invitation(*, room, recipient: User, inviter: User) -> list[Notification]:
    """Someone added `recipient` to a private room. Trusts its caller's transaction."""
    if room.kind != Room.Kind.PRIVATE or recipient.pk == inviter.pk:
        return []
    return _create([Notification(recipient=recipient, kind=Notification.Kind.INVITATION, room=room, actor=inviter)])


@transaction.atomic
def notifications_mark_read(*, user: User, ids: list[int] | None = None, all: bool = False) -> int:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if not all:
        unread = unread.filter(Q(pk__in=ids or []))
    return unread.update(read_at=timezone.now())
