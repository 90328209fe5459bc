from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from notifications.models import Notification
from rooms.models import Membership, Room


def unread_notification_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def notifications_for(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's inbox, each with `recipient_sees_room`: a notification outlives its
    recipient's membership, but the words of a room they were removed from do not reach
    them through it (notifications.wire leaves out the snippet). In the same query."""
    sees_room = (
        Q(room__isnull=True)
        | Q(room__kind=Room.Kind.PUBLIC)
        | Exists(Membership.objects.filter(room_id=OuterRef("room_id"), user=user))
    )
    notifications = (
        Notification.objects.filter(recipient=user)
        .select_related("actor", "message")
        .annotate(recipient_sees_room=sees_room)
    )
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications.order_by("-id")
