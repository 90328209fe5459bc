"""Message use cases. `message_send` is the one send path: REST, WebSocket, web UI and admin call it."""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from accounts.models import User
from chatproject.errors import FieldErrors, FieldTooLarge, Invalid, PermissionDenied
from messaging import events
from messaging.hooks import message_stored
from messaging.models import Message
from messaging.selectors import message_get_visible, with_statuses
from rooms import services as room_services
from rooms.selectors import membership_get, membership_require

CLIENT_ID_MAX = 64


@dataclass(frozen=True)
class SendResult:
    message: Message
    data: dict
    created: bool


def _clean_body(body) -> str:
    if not isinstance(body, str):
        raise FieldErrors({"body": ["Must be text."]})
    if not body.strip():
        raise FieldErrors({"body": ["A message cannot be empty."]})
    if len(body) > settings.MESSAGE_MAX_LENGTH:
        raise FieldTooLarge({"body": [f"At most {settings.MESSAGE_MAX_LENGTH} characters."]})
    return body


def _clean_client_id(client_id) -> str:
    if client_id in (None, ""):
        return ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX:
        raise FieldErrors({"client_id": [f"Must be a string of at most {CLIENT_ID_MAX} characters."]})
    return client_id


def _resent(*, sender: User, client_id: str, room_id: int) -> SendResult | None:
    existing = Message.objects.for_wire().filter(sender=sender, client_id=client_id).first()
    if existing is None:
        return None
    if existing.room_id != room_id:
        raise FieldErrors({"client_id": ["Already used for a message in another room."]})
    return SendResult(existing, with_statuses([existing], room_id)[0], created=False)


def message_send(
    *,
    sender: User,
    room_id: int,
    body,
    client_id=None,
    reply_to: int | None = None,
    skip_conn: str | None = None,
) -> SendResult:
    """Stores a message and publishes `message.new` after commit.

    Idempotent on (sender, client_id): a resend, also one racing the first attempt,
    gets the first message back with created=False. `skip_conn` is the sending
    connection, which gets an ack instead of its own message.new.
    """
    body, client_id = _clean_body(body), _clean_client_id(client_id)
    # No lookup before the insert: the (sender, client_id) unique index catches a
    # resend, or a racing duplicate, and the first message is answered instead.
    try:
        with transaction.atomic():
            message = _store(sender=sender, room_id=room_id, body=body, client_id=client_id, reply_to=reply_to)
            data = events.message_new(message=message, skip_conn=skip_conn)
    except IntegrityError:
        if client_id and (resent := _resent(sender=sender, client_id=client_id, room_id=room_id)):
            return resent
        raise
    return SendResult(message, data, created=True)


def _store(*, sender: User, room_id: int, body: str, client_id: str, reply_to: int | None) -> Message:
    allocated = room_services.room_next_seq(room_id=room_id, sender_id=sender.pk)
    if allocated is None:
        membership_require(user=sender, room_id=room_id)  # raises NotFound or PermissionDenied
        raise PermissionDenied("You are not a member of this room.")
    seq, room_kind = allocated
    if reply_to is not None and not Message.objects.filter(pk=reply_to, room_id=room_id).exists():
        raise FieldErrors({"reply_to": ["No message with this id in this room."]})
    message = _insert(
        Message(room_id=room_id, seq=seq, sender=sender, body=body, client_id=client_id, reply_to_id=reply_to)
    )
    message_stored.send(message=message, room_kind=room_kind)
    return message


_INSERT_SQL = (
    f"INSERT INTO {Message._meta.db_table} (room_id, seq, sender_id, body, client_id, reply_to_id, created_at, deleted)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)


def _insert(message: Message) -> Message:
    """One raw INSERT: Model.save() compiles the same statement anew for every message sent."""
    message.created_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                message.room_id,
                message.seq,
                message.sender_id,
                message.body,
                message.client_id,
                message.reply_to_id,
                connection.ops.adapt_datetimefield_value(message.created_at),
                False,
            ],
        )
        message.pk = cursor.fetchone()[0]
    message._state.adding = False
    return message


@transaction.atomic
def message_edit(*, actor: User, message_id: int, body) -> dict:
    body = _clean_body(body)
    message = message_get_visible(user=actor, message_id=message_id)
    if message.sender_id != actor.pk or membership_get(user=actor, room_id=message.room_id) is None:
        raise PermissionDenied("Only the author, while a member of the room, may edit a message.")
    if message.deleted:
        raise Invalid("A deleted message cannot be edited.")
    message.body = body
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "edited_at"])
    data = with_statuses([message], message.room_id)[0]
    events.message_updated(message=message, status=data["status"])
    return data


@transaction.atomic
def message_delete(*, actor: User, message_id: int, reason: str = "") -> None:
    """The author, the room's owner or admins, or a site moderator may delete.

    The row stays (deleted, body emptied) so the room's seqs keep no gaps.
    """
    message = message_get_visible(user=actor, message_id=message_id)
    membership = membership_get(user=actor, room_id=message.room_id)
    is_author = message.sender_id == actor.pk and membership is not None
    if not (is_author or actor.is_moderator or (membership is not None and membership.can_manage)):
        raise PermissionDenied("Only the author, a room owner or admin, or a moderator may delete a message.")
    if message.deleted:
        return
    message.deleted = True
    message.body = ""
    message.edited_at = timezone.now()
    message.save(update_fields=["deleted", "body", "edited_at"])
    if not is_author:
        audit_record(
            actor=actor,
            kind=AuditKind.MESSAGE_DELETED,
            target_user=message.sender_id,
            room_id=message.room_id,
            message_id=message.pk,
            summary=f"seq {message.seq} in room {message.room_id}",
            reason=reason,
        )
    events.message_deleted(message=message)
