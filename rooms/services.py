"""Room and membership use cases. Every door calls these; only these publish room events."""

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from accounts.models import User
from accounts.selectors import users_by_ids
from chatproject import ratelimits
from chatproject.errors import FieldErrors, Invalid, NotFound, PermissionDenied
from rooms import events
from rooms.hooks import member_added
from rooms.models import Membership, Room
from rooms.selectors import direct_key, membership_get, membership_require, room_get_visible
from rooms.wire import room_data

DIRECT_MAX_MEMBERS = 10
Role = Membership.Role


def _member_count(room: Room) -> int:
    return Membership.objects.filter(room=room).count()


def _validate_names(*, name: str | None, topic: str | None) -> None:
    errors = {}
    if name is not None and not name.strip():
        errors["name"] = ["A room needs a name."]
    elif name is not None and len(name.strip()) > 80:
        errors["name"] = ["At most 80 characters."]
    if topic is not None and len(topic) > 250:
        errors["topic"] = ["At most 250 characters."]
    if errors:
        raise FieldErrors(errors)


def _validate_role(role: str) -> None:
    if role not in Role.values:
        raise FieldErrors({"role": [f"Must be one of {', '.join(Role.values)}."]})


def _require_manager(*, actor: User, room: Room, owner_only: bool = False) -> Membership | None:
    """The actor's membership if they may manage the room; moderators may do what owners may."""
    membership = membership_get(user=actor, room_id=room.pk)
    if actor.is_moderator:
        return membership
    if membership is None or not membership.can_manage or (owner_only and membership.role != Role.OWNER):
        raise PermissionDenied("Only the room's " + ("owner" if owner_only else "owner or admins") + " may do this.")
    return membership


@transaction.atomic
def room_create(*, creator: User, name: str, kind: str, topic: str = "") -> Room:
    if kind not in (Room.Kind.PUBLIC, Room.Kind.PRIVATE):
        raise FieldErrors({"kind": ['Must be "public" or "private"; direct conversations start at dms/.']})
    _validate_names(name=name, topic=topic)
    ratelimits.enforce("room_create", creator.pk)
    room = Room.objects.create(kind=kind, name=name.strip(), topic=topic.strip(), created_by=creator)
    membership = Membership.objects.create(room=room, user=creator, role=Role.OWNER)
    events.joined(membership=membership, room_payload=room_data(room))
    return room


@transaction.atomic
def room_update(*, actor: User, room_id: int, name: str | None = None, topic: str | None = None) -> Room:
    room = room_get_visible(user=actor, room_id=room_id)
    if room.is_direct:
        raise PermissionDenied("Direct conversations have no name or topic to change.")
    _require_manager(actor=actor, room=room)
    _validate_names(name=name, topic=topic)
    if name is not None:
        room.name = name.strip()
    if topic is not None:
        room.topic = topic.strip()
    room.save(update_fields=["name", "topic"])
    events.updated(room=room)
    return room


@transaction.atomic
def room_delete(*, actor: User, room_id: int, reason: str = "") -> None:
    room = room_get_visible(user=actor, room_id=room_id)
    if room.is_direct and not actor.is_moderator:
        raise PermissionDenied("Direct conversations cannot be deleted.")
    if not room.is_direct:
        _require_manager(actor=actor, room=room, owner_only=True)
    for user_id in Membership.objects.filter(room=room).values_list("user_id", flat=True):
        events.left(user_id=user_id, room_id=room.pk, reason="deleted")
    audit_record(actor=actor, kind=AuditKind.ROOM_DELETED, room_id=room.pk, summary=str(room), reason=reason)
    room.delete()


@transaction.atomic
def room_join(*, user: User, room_id: int) -> Membership:
    room = room_get_visible(user=user, room_id=room_id)
    existing = membership_get(user=user, room_id=room.pk)
    if existing is not None:
        return existing
    if room.kind != Room.Kind.PUBLIC:
        raise PermissionDenied("Only public rooms can be joined; ask an owner or admin to add you.")
    return _add(room_id=room.pk, user=user, role=Role.MEMBER)[0]


def _add(*, room_id: int, user: User, role: str) -> tuple[Membership, bool]:
    """(membership, created). Trusts its caller to have checked who may add whom."""
    room = Room.objects.select_for_update().get(pk=room_id)
    # Checked again under the room's row lock: of two concurrent adds of one user (a
    # double tap on join), the second finds the first's membership instead of failing
    # on the unique constraint.
    existing = Membership.objects.filter(room=room, user=user).first()
    if existing is not None:
        return existing, False
    # New members start with nothing unread: the backlog is history, not news.
    membership = Membership.objects.create(
        room=room, user=user, role=role, delivered_seq=room.last_seq, read_seq=room.last_seq
    )
    events.joined(membership=membership, room_payload=room_data(room))
    events.updated(room=room, member_count=_member_count(room))
    return membership, True


@transaction.atomic
def room_leave(*, user: User, room_id: int) -> None:
    membership = membership_get(user=user, room_id=room_id)
    if membership is None:
        room_get_visible(user=user, room_id=room_id)
        raise Invalid("You are not a member of this room.")
    room = membership.room
    if room.is_direct:
        raise PermissionDenied("Nobody leaves a direct conversation.")
    if membership.role == Role.OWNER:
        others = Membership.objects.filter(room=room).exclude(user=user)
        if others.exists() and not others.filter(role=Role.OWNER).exists():
            raise Invalid("You are the last owner: make someone else owner before leaving.")
    membership.delete()
    events.left(user_id=user.pk, room_id=room.pk, reason="left")
    events.updated(room=room, member_count=_member_count(room))


@transaction.atomic
def member_add(*, actor: User, room_id: int, user_id: int, role: str = Role.MEMBER) -> Membership:
    room = room_get_visible(user=actor, room_id=room_id)
    if room.is_direct:
        raise PermissionDenied("Direct conversations have a fixed set of members.")
    _validate_role(role)
    _require_manager(actor=actor, room=room, owner_only=role != Role.MEMBER)
    user = users_by_ids([user_id]).get(user_id)
    if user is None:
        raise FieldErrors({"user_id": ["No active user with this id."]})
    existing = membership_get(user=user, room_id=room.pk)
    if existing is not None:
        return existing
    membership, created = _add(room_id=room.pk, user=user, role=role)
    if created:
        member_added.send(room=room, user=user, actor=actor)
    return membership


def _refuse_ownerless(*, room: Room, target: Membership) -> None:
    """A room keeps an owner: its last owner is neither removed nor demoted by anyone.

    Refused rather than handing ownership on: who should own a room is a choice for
    people (make someone else owner first, or delete the room), not for the server.
    """
    if (
        target.role == Role.OWNER
        and not Membership.objects.filter(room=room, role=Role.OWNER).exclude(pk=target.pk).exists()
    ):
        raise Invalid("A room needs an owner: make someone else owner first.")


@transaction.atomic
def member_remove(*, actor: User, room_id: int, user_id: int, reason: str = "") -> None:
    room = room_get_visible(user=actor, room_id=room_id)
    if room.is_direct:
        raise PermissionDenied("Direct conversations have a fixed set of members.")
    if user_id == actor.pk:
        return room_leave(user=actor, room_id=room_id)
    actor_membership = _require_manager(actor=actor, room=room)
    target = Membership.objects.filter(room=room, user_id=user_id).first()
    if target is None:
        raise NotFound("That user is not a member of this room.")
    outranks = actor.is_moderator or (actor_membership and actor_membership.role == Role.OWNER)
    if target.can_manage and not outranks:
        raise PermissionDenied("Only an owner may remove an owner or admin.")
    _refuse_ownerless(room=room, target=target)
    target.delete()
    audit_record(
        actor=actor,
        kind=AuditKind.MEMBER_REMOVED,
        target_user=user_id,
        room_id=room.pk,
        summary=str(room),
        reason=reason,
    )
    events.left(user_id=user_id, room_id=room.pk, reason="removed")
    events.updated(room=room, member_count=_member_count(room))
    return None


@transaction.atomic
def member_set_role(*, actor: User, room_id: int, user_id: int, role: str, reason: str = "") -> Membership:
    room = room_get_visible(user=actor, room_id=room_id)
    if room.is_direct:
        raise PermissionDenied("Direct conversations have no roles.")
    _validate_role(role)
    _require_manager(actor=actor, room=room, owner_only=True)
    target = Membership.objects.filter(room=room, user_id=user_id).first()
    if target is None:
        raise NotFound("That user is not a member of this room.")
    if role != Role.OWNER:
        _refuse_ownerless(room=room, target=target)
    if target.role == role:
        return target
    audit_record(
        actor=actor,
        kind=AuditKind.ROLE_CHANGED,
        target_user=user_id,
        room_id=room.pk,
        summary=f"{room}: {target.role} -> {role}",
        reason=reason,
    )
    target.role = role
    target.save(update_fields=["role"])
    events.updated(room=room)
    return target


def direct_get_or_create(*, creator: User, user_ids: list[int]) -> tuple[Room, bool]:
    """The one direct conversation of exactly these users (and the creator); created if new."""
    wanted = {int(i) for i in user_ids} | {creator.pk}
    if len(wanted) < 2:
        raise FieldErrors({"user_ids": ["Name at least one other user."]})
    if len(wanted) > DIRECT_MAX_MEMBERS:
        raise FieldErrors({"user_ids": [f"A direct conversation has at most {DIRECT_MAX_MEMBERS} people."]})
    users = users_by_ids(sorted(wanted))
    if set(users) != wanted:
        raise FieldErrors({"user_ids": ["Every id must name an active user."]})
    key = direct_key(wanted)
    room = Room.objects.filter(direct_key=key).first()
    if room is not None:
        return room, False
    ratelimits.enforce("dm_create", creator.pk)  # opening an existing conversation is never limited
    try:
        with transaction.atomic():
            room = Room.objects.create(kind=Room.Kind.DIRECT, direct_key=key, created_by=creator)
            memberships = Membership.objects.bulk_create(
                [Membership(room=room, user=users[i], role=Role.MEMBER) for i in sorted(wanted)]
            )
            payload = room_data(room, members=[users[i] for i in sorted(wanted)])
            for membership in memberships:
                events.joined(membership=membership, room_payload=payload)
    except IntegrityError:
        # Two people opened the same conversation at once: both get the winner's room.
        return Room.objects.get(direct_key=key), False
    return room, True


def room_next_seq(*, room_id: int, sender_id: int) -> tuple[int, str] | None:
    """Allocates the room's next seq if the sender is a member: (seq, room kind), else None.

    Trusts its caller (the send path) to hold a transaction: the row lock taken here
    serializes concurrent senders of one room until commit, which is what keeps seqs
    gapless and in commit order. One statement checks membership and increments; a
    second moves the sender's own markers to the new seq (a sender has read what they
    wrote). Raw SQL: this runs for every message sent.
    """
    room_table, membership_table = Room._meta.db_table, Membership._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {room_table} SET last_seq = last_seq + 1 WHERE id = %s AND EXISTS "
            f"(SELECT 1 FROM {membership_table} WHERE room_id = %s AND user_id = %s) RETURNING last_seq, kind",
            [room_id, room_id, sender_id],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(
            f"UPDATE {membership_table} SET read_seq = %s, delivered_seq = %s WHERE room_id = %s AND user_id = %s",
            [row[0], row[0], room_id, sender_id],
        )
    return row[0], row[1]


def room_next_seq_cte(*, only_if: str = "TRUE") -> str:
    """room_next_seq as PostgreSQL common table expressions, for a statement that stores
    what the seq numbers in the same statement (messaging's batched send: one statement
    per message, many statements per round trip).

    Defines `allocated(seq, kind)`: one row if the seq was allocated, none otherwise (not a
    member, or the caller's extra SQL condition `only_if` is false: then nothing changed).
    Named parameters: %(room)s, %(sender)s. Trusts its caller to hold a transaction.
    """
    room_table, membership_table = Room._meta.db_table, Membership._meta.db_table
    return (
        f"allocated AS (UPDATE {room_table} SET last_seq = last_seq + 1 WHERE id = %(room)s AND EXISTS "
        f"(SELECT 1 FROM {membership_table} WHERE room_id = %(room)s AND user_id = %(sender)s) AND ({only_if}) "
        "RETURNING last_seq AS seq, kind), "
        f"sender_marked AS (UPDATE {membership_table} SET read_seq = allocated.seq, delivered_seq = allocated.seq "
        "FROM allocated WHERE room_id = %(room)s AND user_id = %(sender)s)"
    )


@transaction.atomic
def marker_move(*, user: User, room_id: int, up_to: int, read: bool, skip_conn: str | None = None) -> Membership:
    """Moves the caller's delivered (or read, which implies delivered) marker forward.

    Never back, never past the room's last seq. Publishes one receipt per marker that
    actually moved.
    """
    if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 0:
        raise FieldErrors({"up_to": ["Must be a seq, 0 or more."]})
    membership = membership_require(user=user, room_id=room_id)
    target = min(up_to, membership.room.last_seq)
    mine = Membership.objects.filter(pk=membership.pk)
    moved_read = read and mine.filter(read_seq__lt=target).update(
        read_seq=target, delivered_seq=Greatest(F("delivered_seq"), target)
    )
    moved_delivered = mine.filter(delivered_seq__lt=target).update(delivered_seq=target)
    if moved_read:
        events.receipt(room_id=room_id, user_id=user.pk, status="read", up_to=target, skip_conn=skip_conn)
    elif moved_delivered:
        events.receipt(room_id=room_id, user_id=user.pk, status="delivered", up_to=target, skip_conn=skip_conn)
    membership.refresh_from_db(fields=["read_seq", "delivered_seq"])
    return membership
