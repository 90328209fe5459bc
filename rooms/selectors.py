"""Reads and access checks for rooms. A room the caller may not see is NotFound, never forbidden."""

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from chatproject.errors import NotFound, PermissionDenied
from rooms.models import Membership, Room


def room_get_visible(*, user: User, room_id: int) -> Room:
    """Public rooms, rooms the user belongs to, and (for moderators) every room."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise NotFound("Room not found.")
    return room_check_visible(user=user, room=room)


def room_check_visible(*, user: User, room: Room) -> Room:
    """The room if the user may see it; NotFound otherwise, so ids reveal nothing."""
    if room.kind == Room.Kind.PUBLIC:
        return room
    if Membership.objects.filter(room=room, user=user).exists() or user.is_moderator:
        return room
    raise NotFound("Room not found.")


def membership_get(*, user: User, room_id: int) -> Membership | None:
    return Membership.objects.select_related("room").filter(room_id=room_id, user=user).first()


def membership_require(*, user: User, room_id: int) -> Membership:
    """The caller's membership; NotFound if the room is hidden, PermissionDenied if only visible."""
    membership = membership_get(user=user, room_id=room_id)
    if membership is not None:
        return membership
    room_get_visible(user=user, room_id=room_id)
    raise PermissionDenied("You are not a member of this room.")


def rooms_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their rooms, member counts and direct members, in 2 queries."""
    direct_members = Prefetch(
        "room__memberships",
        # Only direct conversations list their members inline; a public room of 1000 does not.
        queryset=Membership.objects.filter(room__kind=Room.Kind.DIRECT).select_related("user").order_by("user_id"),
        to_attr="members_prefetched",
    )
    return (
        Membership.objects.filter(user=user)
        .select_related("room")
        .annotate(member_count=Count("room__memberships"))
        .prefetch_related(direct_members)
        .order_by("-room__last_seq", "room_id")
    )


def room_ids_for_user(*, user_id: int) -> list[tuple[int, int, int]]:
    """(room id, last seq, read seq) of every room of the user, in one query."""
    return list(Membership.objects.filter(user_id=user_id).values_list("room_id", "room__last_seq", "read_seq"))


def public_rooms_to_join(*, user: User, search: str = "") -> QuerySet[Room]:
    rooms = (
        Room.objects.filter(kind=Room.Kind.PUBLIC)
        .exclude(memberships__user=user)
        .annotate(member_count=Count("memberships"))
        .order_by("name", "id")
    )
    search = search.replace("\x00", "")  # no stored text holds NUL, and PostgreSQL refuses it in a query
    if search:
        rooms = rooms.filter(Q(name__icontains=search) | Q(topic__icontains=search))
    return rooms


def room_members(*, room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("joined_at", "id")


def member_count(*, room_id: int) -> int:
    return Membership.objects.filter(room_id=room_id).count()


def member_user_ids(*, room_id: int) -> list[int]:
    return list(Membership.objects.filter(room_id=room_id).values_list("user_id", flat=True))


def direct_key(user_ids: set[int]) -> str:
    return ",".join(str(i) for i in sorted(user_ids))


class MarkerFloors:
    """The two lowest delivered and read markers of a room's members.

    A message's status is the lowest state among the members other than its sender;
    the lowest two markers are enough to know it for any sender, so a page of
    messages from many senders needs no query per message.
    """

    def __init__(self) -> None:
        self.delivered: list[tuple[int, int]] = []
        self.read: list[tuple[int, int]] = []

    @staticmethod
    def _floor(pairs: list[tuple[int, int]], sender_id: int | None) -> int | None:
        for user_id, seq in pairs:
            if user_id != sender_id:
                return seq
        return None

    def status(self, *, sender_id: int | None, seq: int) -> str:
        read = self._floor(self.read, sender_id)
        if read is None:
            return "sent"  # nobody else is in the room
        if read >= seq:
            return "read"
        delivered = self._floor(self.delivered, sender_id)
        return "delivered" if delivered is not None and delivered >= seq else "sent"


def marker_floors(*, room_ids: list[int]) -> dict[int, MarkerFloors]:
    """MarkerFloors per room, in two queries whatever the number of rooms or members."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    floors = {room_id: MarkerFloors() for room_id in room_ids}
    if not room_ids:
        return floors
    for field in ("delivered_seq", "read_seq"):
        rows = (
            Membership.objects.filter(room_id__in=room_ids)
            .annotate(rank=Window(RowNumber(), partition_by=[F("room_id")], order_by=[F(field).asc(), F("user_id")]))
            .filter(rank__lte=2)
            .order_by("room_id", "rank")
            .values_list("room_id", "user_id", field)
        )
        for room_id, user_id, seq in rows:
            getattr(floors[room_id], field.removesuffix("_seq")).append((user_id, seq))
    return floors


def member_usernames_matching(*, room_id: int, usernames: set[str]) -> list[int]:
    """Ids of the room's members whose usernames (any case) are among `usernames`."""
    from django.db.models.functions import Lower

    return list(
        Membership.objects.filter(room_id=room_id)
        .annotate(lname=Lower("user__username"))
        .filter(lname__in=usernames, user__is_active=True)
        .values_list("user_id", flat=True)
    )


def unread_count(membership: Membership) -> int:
    # The send path moves a sender's read marker to their own message, so everything
    # after the marker is from others: no scan of the room's history.
    return max(membership.room.last_seq - membership.read_seq, 0)
