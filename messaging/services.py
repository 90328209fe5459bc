"""Message use cases. `message_send` is the one send path: REST, WebSocket, web UI and admin call it."""

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Q, Sum, Value, When
from django.utils import timezone

from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from accounts.models import User
from chatproject import ratelimits
from chatproject.db import database_unavailable
from chatproject.errors import DomainError, FieldErrors, FieldTooLarge, Invalid, NotFound, PermissionDenied, TooLarge
from chatproject.tasks import enqueue, enqueue_by
from messaging import events, files, images
from messaging.hooks import message_stored
from messaging.models import Attachment, Message
from messaging.selectors import message_get_visible, with_statuses
from messaging.wire import attachment_data
from rooms import services as room_services
from rooms.selectors import membership_get, membership_require

logger = logging.getLogger(__name__)

CLIENT_ID_MAX = 64
ATTACHMENTS_MAX = 10


@dataclass(frozen=True)
class SendResult:
    message: Message
    data: dict
    created: bool


def _clean_body(body, *, may_be_empty: bool = False) -> str:
    if body is None and may_be_empty:
        return ""
    if not isinstance(body, str):
        raise FieldErrors({"body": ["Must be text."]})
    if not body.strip() and not may_be_empty:
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


def _clean_attachment_ids(ids) -> list[int]:
    if ids in (None, ""):
        return []
    if not isinstance(ids, list | tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise FieldErrors({"attachments": ["Must be a list of attachment ids."]})
    if len(ids) > ATTACHMENTS_MAX:
        raise FieldErrors({"attachments": [f"At most {ATTACHMENTS_MAX} attachments per message."]})
    if len(set(ids)) != len(ids):
        raise FieldErrors({"attachments": ["The same attachment is listed twice."]})
    return list(ids)


def _claim_attachments(*, message: Message, sender: User, ids: list[int]) -> None:
    """Ties the sender's unused uploads to the message, in the order given: all of them or none.

    One UPDATE whose WHERE is the rule (the sender's own, unused, not removed), so two
    sends racing for one upload cannot both get it: the second finds it used and its whole
    transaction, message included, rolls back.
    """
    if not ids:
        message.shown_attachments = []
        return
    claimed = Attachment.objects.filter(
        pk__in=ids, uploader=sender, message__isnull=True, removed_at__isnull=True
    ).update(message=message, position=Case(*(When(pk=pk, then=Value(i)) for i, pk in enumerate(ids))))
    if claimed != len(ids):
        raise FieldErrors({"attachments": ["Each attachment must be your own upload, not yet used in a message."]})
    message.shown_attachments = list(Attachment.objects.shown().filter(message=message))


def _resent(*, sender: User, client_id: str, room_id: int) -> SendResult | None:
    existing = Message.objects.for_wire().filter(sender=sender, client_id=client_id).first()
    if existing is None:
        return None
    if existing.room_id != room_id:
        raise FieldErrors({"client_id": ["Already used for a message in another room."]})
    return SendResult(existing, with_statuses([existing], room_id)[0], created=False)


@dataclass(frozen=True)
class SendRequest:
    """One send, as a door received it: the fields are checked by the send path."""

    sender: User
    room_id: int
    body: object
    client_id: object = None
    reply_to: int | None = None
    attachments: object = None
    skip_conn: str | None = None


def message_send(
    *,
    sender: User,
    room_id: int,
    body,
    client_id=None,
    reply_to: int | None = None,
    attachments=None,
    skip_conn: str | None = None,
) -> SendResult:
    """Stores a message and publishes `message.new` after commit.

    Idempotent on (sender, client_id): a resend, also one racing the first attempt,
    gets the first message back with created=False. `skip_conn` is the sending
    connection, which gets an ack instead of its own message.new. `attachments` are
    ids of the sender's unused uploads; with any, the body may be empty.
    """
    request = SendRequest(sender, room_id, body, client_id, reply_to, attachments, skip_conn)
    return _send_checked(_checked(request))


def message_send_many(requests: list[SendRequest]) -> list[SendResult | Exception]:
    """Several senders' sends in one transaction: each gets what message_send would give it.

    For sends that arrive together (the WebSocket door batches them, messaging/batching.py):
    on PostgreSQL their statements go in one round trip and they share one commit, where
    one by one each would wait for its own WAL flush. The answer for each request is its
    SendResult or the exception message_send would have raised; a send the batch cannot
    decide (not a member, a reply to nothing, a resend) is answered by message_send itself,
    after the batch, and so are all of them if the batch fails (a racing duplicate): nothing
    of a failed batch was stored.
    """
    outcomes: list[SendResult | Exception | None] = [None] * len(requests)
    batched: list[tuple[int, SendRequest]] = []
    for i, request in enumerate(requests):
        try:
            request = _checked(request)
        except DomainError as exc:
            outcomes[i] = exc
            continue
        if request.attachments or connection.vendor != "postgresql" or len(requests) == 1:
            outcomes[i] = _outcome(request)
        else:
            batched.append((i, request))
    # Rooms' seq rows are locked in room order, so concurrent batches cannot deadlock.
    batched.sort(key=lambda item: (item[1].room_id, item[0]))
    try:
        with transaction.atomic():
            stored = _store_many([request for _, request in batched])
            undecided = []
            for (i, request), result in zip(batched, stored, strict=True):
                if result is None:
                    undecided.append((i, request))
                else:
                    outcomes[i] = result
    except Exception as exc:
        if database_unavailable(exc):  # one by one would only fail again, each after its own timeout
            for i, _ in batched:
                outcomes[i] = exc
            return outcomes
        logger.info("a batch of %d sends failed (%r); sending them one by one", len(batched), exc)
        undecided = batched
    for i, request in sorted(undecided):
        outcomes[i] = _outcome(request)
    return outcomes


def _outcome(request: SendRequest) -> SendResult | Exception:
    try:
        return _send_checked(request)
    except Exception as exc:  # this send's answer; the others' stand
        return exc


def _checked(request: SendRequest) -> SendRequest:
    """The request with its fields cleaned, counted against the sender's send limit."""
    attachment_ids = _clean_attachment_ids(request.attachments)
    body = _clean_body(request.body, may_be_empty=bool(attachment_ids))
    client_id = _clean_client_id(request.client_id)
    # Before anything is stored: a refused send leaves no trace (and REST and WebSocket share the count).
    ratelimits.enforce("send", request.sender.pk)
    return replace(request, body=body, client_id=client_id, attachments=attachment_ids)


def _send_checked(request: SendRequest) -> SendResult:
    sender, room_id, client_id = request.sender, request.room_id, request.client_id
    # No lookup before the insert: the (sender, client_id) unique index catches a
    # resend, or a racing duplicate, and the first message is answered instead.
    try:
        with transaction.atomic():
            message = _store(
                sender=sender, room_id=room_id, body=request.body, client_id=client_id, reply_to=request.reply_to
            )
            _claim_attachments(message=message, sender=sender, ids=request.attachments)
            data = events.message_new(message=message, skip_conn=request.skip_conn)
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


# One statement per message: the seq allocation (rooms' CTE) and the insert, so that a
# message is stored exactly when its seq was taken. The allocation is skipped, and no row
# returned, for a resend of a stored client_id or a reply to a message not in the room;
# message_send then answers those as it always does.
_STORE_SQL = (
    "WITH "
    + room_services.room_next_seq_cte(
        only_if=(
            f"(%(client_id)s = '' OR NOT EXISTS (SELECT 1 FROM {Message._meta.db_table}"
            " WHERE sender_id = %(sender)s AND client_id = %(client_id)s))"
            f" AND (%(reply_to)s::bigint IS NULL OR EXISTS (SELECT 1 FROM {Message._meta.db_table}"
            " WHERE id = %(reply_to)s AND room_id = %(room)s))"
        )
    )
    + f" INSERT INTO {Message._meta.db_table}"
    " (room_id, seq, sender_id, body, client_id, reply_to_id, created_at, deleted)"
    " SELECT %(room)s, seq, %(sender)s, %(body)s, %(client_id)s, %(reply_to)s, %(created_at)s, false FROM allocated"
    " RETURNING id, seq, (SELECT kind FROM allocated)"
)


def _store_many(requests: list[SendRequest]) -> list[SendResult | None]:
    """Stores checked requests without attachments (PostgreSQL, in the caller's transaction).

    All statements go in one round trip (psycopg's pipeline); None for a request it left
    to message_send.
    """
    if not requests:
        return []
    params = [
        {
            "room": r.room_id,
            "sender": r.sender.pk,
            "body": r.body,
            "client_id": r.client_id,
            "reply_to": r.reply_to,
            "created_at": timezone.now(),
        }
        for r in requests
    ]
    rows = []
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor  # psycopg's own: Django's wrapper has no executemany(returning=True)
        raw.executemany(_STORE_SQL, params, returning=True)
        while True:
            rows.append(raw.fetchone())
            if not raw.nextset():
                break
    return [_stored(request, p, row) for request, p, row in zip(requests, params, rows, strict=True)]


def _stored(request: SendRequest, params: dict, row: tuple | None) -> SendResult | None:
    if row is None:
        return None
    pk, seq, room_kind = row
    message = Message(
        pk=pk,
        room_id=request.room_id,
        seq=seq,
        sender=request.sender,
        body=request.body,
        client_id=request.client_id,
        reply_to_id=request.reply_to,
        created_at=params["created_at"],
    )
    message._state.adding = False
    message.shown_attachments = []
    message_stored.send(message=message, room_kind=room_kind)
    data = events.message_new(message=message, skip_conn=request.skip_conn)
    return SendResult(message, data, created=True)


@transaction.atomic
def message_edit(*, actor: User, message_id: int, body) -> dict:
    """The author changes the body; attachments stay. Empty only if it has attachments."""
    message = message_get_visible(user=actor, message_id=message_id)
    message.shown_attachments = list(Attachment.objects.shown().filter(message=message))
    body = _clean_body(body, may_be_empty=bool(message.shown_attachments))
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


def _require_may_moderate(*, actor: User, message: Message, what: str) -> bool:
    """PermissionDenied unless the actor may take the message down; True if it is their own."""
    membership = membership_get(user=actor, room_id=message.room_id)
    is_author = message.sender_id == actor.pk and membership is not None
    if not (is_author or actor.is_moderator or (membership is not None and membership.can_manage)):
        raise PermissionDenied(f"Only the author, a room owner or admin, or a moderator may {what}.")
    return is_author


@transaction.atomic
def message_delete(*, actor: User, message_id: int, reason: str = "") -> None:
    """The author, the room's owner or admins, or a site moderator may delete.

    The row stays (deleted, body emptied) so the room's seqs keep no gaps.
    """
    message = message_get_visible(user=actor, message_id=message_id)
    is_author = _require_may_moderate(actor=actor, message=message, what="delete a message")
    if message.deleted:
        return
    message.deleted = True
    message.body = ""
    message.edited_at = timezone.now()
    message.save(update_fields=["deleted", "body", "edited_at"])
    # Unreachable from now on; clean-up deletes the files after the grace period.
    if Attachment.objects.filter(message=message, removed_at__isnull=True).update(removed_at=message.edited_at):
        _schedule_cleanup(hours=settings.ATTACHMENT_DELETE_GRACE_HOURS)
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


def attachment_upload(*, uploader: User, file: UploadedFile) -> dict:
    """Stores an upload for later use in a message; returns its wire shape.

    The type is sniffed from the bytes (messaging.files), the name cleaned, the size and
    the uploader's quota checked. The file is written before the row: a failure in
    between leaves no row pointing at nothing, and the written file is deleted again.
    """
    ratelimits.enforce("upload", uploader.pk)
    size = file.size or 0
    if size == 0:
        raise Invalid("The file is empty.")
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise files.too_large()
    content_type = files.sniff_content_type(files.read_head(file))
    name = files.clean_name(file.name)
    attachment = Attachment(uploader=uploader, name=name, size=size, content_type=content_type)
    stored = file
    if content_type in files.RASTER_IMAGE_TYPES:
        # Location metadata never reaches storage (messaging/images.py); the thumbnail is the worker's.
        prepared = images.prepare_upload(file, content_type)
        attachment.width, attachment.height = prepared.width, prepared.height
        if prepared.file is not None:
            stored, attachment.size = File(prepared.file), prepared.size
    attachment.file.save(files.storage_name(), stored, save=False)
    try:
        with transaction.atomic():
            _check_quota(uploader=uploader, size=attachment.size)
            attachment.save()
            if content_type in files.RASTER_IMAGE_TYPES:
                from messaging.tasks import attachment_thumbnail

                enqueue(attachment_thumbnail, attachment.pk)
            # Deleted if never sent: the worker sweeps once that time has come.
            _schedule_cleanup(hours=settings.ATTACHMENT_ORPHAN_HOURS)
    except BaseException:
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment_data(attachment)


def _check_quota(*, uploader: User, size: int) -> None:
    # The uploader's row lock makes concurrent uploads of one user take turns here, so
    # together they cannot pass the quota; other users are not held up.
    User.objects.select_for_update().filter(pk=uploader.pk).values_list("pk").first()
    used = Attachment.objects.filter(uploader=uploader, removed_at__isnull=True).aggregate(total=Sum("size"))["total"]
    used = used or 0
    quota = settings.ATTACHMENT_QUOTA_BYTES
    if used + size > quota:
        raise TooLarge(
            f"Your storage quota of {files.human_size(quota)} is used up ({files.human_size(used)} in use): "
            "delete messages with files you no longer need."
        )


def _schedule_cleanup(*, hours: int) -> None:
    """The clean-up sweep runs on the queue when files become due (cron may run it too)."""
    from messaging.tasks import attachments_cleanup

    enqueue_by(attachments_cleanup, timezone.now() + timedelta(hours=hours))


def attachment_thumbnail_make(*, attachment_id: int) -> bool:
    """The worker's job for an uploaded raster image: its thumbnail; True if one was made.

    A picture over IMAGE_MAX_PIXELS (a decompression bomb, say), or one Pillow cannot
    decode, gets none: it stays a plain download. Once the thumbnail is stored, a room
    whose message shows the image hears message.updated with its thumbnail_url.
    """
    attachment = Attachment.objects.filter(pk=attachment_id, removed_at__isnull=True).first()
    if attachment is None or attachment.thumbnail or attachment.content_type not in files.RASTER_IMAGE_TYPES:
        return False
    try:
        with attachment.file.open("rb") as source:
            data, extension = images.thumbnail(source)
    except images.TooManyPixels as refused:
        logger.warning("No thumbnail for attachment %s: %s", attachment_id, refused)
        return False
    except (OSError, SyntaxError, ValueError):  # not decodable after all (UnidentifiedImageError is OSError)
        logger.warning("No thumbnail for attachment %s: Pillow cannot decode it", attachment_id, exc_info=True)
        return False
    storage = attachment.thumbnail.storage
    token = files.storage_name().removeprefix("attachments/")
    name = storage.save(f"thumbnails/{token}.{extension}", ContentFile(data))
    with transaction.atomic():
        current = Attachment.objects.select_for_update().filter(pk=attachment_id, removed_at__isnull=True).first()
        if current is None or current.thumbnail:  # removed meanwhile, or another worker was faster
            transaction.on_commit(lambda: storage.delete(name))
            return False
        current.thumbnail.name = name
        current.save(update_fields=["thumbnail"])
        if current.message_id is not None:
            message = Message.objects.for_wire().get(pk=current.message_id)
            if not message.deleted:
                events.message_updated(message=message, status=with_statuses([message], message.room_id)[0]["status"])
    return True


@transaction.atomic
def attachment_remove(*, actor: User, attachment_id: int, reason: str = "") -> None:
    """Takes one attachment out of its message (moderation); the room hears message.updated.

    Who may delete the message may remove one of its files. The file becomes unreachable
    at once and is deleted by clean-up after the grace period. An unused upload may be
    removed by its uploader or a moderator.
    """
    attachment = Attachment.objects.select_for_update().filter(pk=attachment_id, removed_at__isnull=True).first()
    if attachment is None:
        raise NotFound("Attachment not found.")
    if attachment.message_id is None:
        if attachment.uploader_id != actor.pk and not actor.is_moderator:
            raise NotFound("Attachment not found.")
        attachment.removed_at = timezone.now()
        attachment.save(update_fields=["removed_at"])
        return
    message = message_get_visible(user=actor, message_id=attachment.message_id)
    is_author = _require_may_moderate(actor=actor, message=message, what="remove a file from a message")
    attachment.removed_at = timezone.now()
    attachment.save(update_fields=["removed_at"])
    _schedule_cleanup(hours=settings.ATTACHMENT_DELETE_GRACE_HOURS)
    if not is_author:
        audit_record(
            actor=actor,
            kind=AuditKind.ATTACHMENT_REMOVED,
            target_user=attachment.uploader_id,
            room_id=message.room_id,
            message_id=message.pk,
            summary=f"{attachment.name} ({attachment.content_type}) from seq {message.seq} in room {message.room_id}",
            reason=reason,
        )
    if not message.deleted:
        data = with_statuses([message], message.room_id)[0]
        events.message_updated(message=message, status=data["status"])


def attachments_cleanup(*, batch_size: int = 100, now=None) -> dict[str, int]:
    """Deletes the files (and rows) of uploads never used within ATTACHMENT_ORPHAN_HOURS,
    and of attachments removed (their message deleted, or moderated) more than
    ATTACHMENT_DELETE_GRACE_HOURS ago. Returns how many of each.

    Safe to run on several machines at once: each batch locks its rows with
    SELECT ... FOR UPDATE SKIP LOCKED, so two runs never take the same row, and a row
    is deleted in the transaction that deleted its files (a failed file deletion keeps
    the row for the next run).
    """
    now = now or timezone.now()
    unused = Q(
        message__isnull=True,
        removed_at__isnull=True,
        created_at__lt=now - timedelta(hours=settings.ATTACHMENT_ORPHAN_HOURS),
    )
    removed = Q(removed_at__lt=now - timedelta(hours=settings.ATTACHMENT_DELETE_GRACE_HOURS))
    counts = {"unused": 0, "removed": 0}
    for kind, condition in (("unused", unused), ("removed", removed)):
        while True:
            done = _cleanup_batch(condition, batch_size)
            counts[kind] += done
            if done < batch_size:  # none left, or the rest is another run's
                break
    return counts


def _cleanup_batch(condition: Q, batch_size: int) -> int:
    with transaction.atomic():
        batch = list(
            Attachment.objects.select_for_update(skip_locked=True).filter(condition).order_by("id")[:batch_size]
        )
        for attachment in batch:
            for field in (attachment.file, attachment.thumbnail):
                if field.name:
                    field.storage.delete(field.name)
        Attachment.objects.filter(pk__in=[a.pk for a in batch]).delete()
    if batch:
        logger.info("clean-up deleted %d attachment(s)", len(batch))
    return len(batch)
