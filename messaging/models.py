from django.conf import settings
from django.db import models

from rooms.models import Room


class MessageQuerySet(models.QuerySet):
    def for_wire(self) -> "MessageQuerySet":
        """Everything the message shape needs, eager-loaded: one query more for any page length."""
        return self.select_related("sender").prefetch_related(
            models.Prefetch("attachments", queryset=Attachment.objects.shown(), to_attr="shown_attachments")
        )


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField(blank=True)
    client_id = models.CharField(max_length=64, blank=True)
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        constraints = [
            # Also the index every history and sync query walks: (room, seq) ranges.
            models.UniqueConstraint(fields=["room", "seq"], name="message_room_seq_unique"),
            models.UniqueConstraint(
                fields=["sender", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_sender_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.room_id}"


class AttachmentQuerySet(models.QuerySet):
    def shown(self) -> "AttachmentQuerySet":
        """What a message shows: not removed, in the order the sender gave."""
        return self.filter(removed_at__isnull=True).order_by("position", "id")


class Attachment(models.Model):
    """An uploaded file: the uploader's alone until used in one message, then the room's.

    `removed_at` is set when its message is deleted or a moderator removes it: from then on
    nobody can download it, and clean-up deletes the file after the grace period.
    """

    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(max_length=255)
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=127)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    thumbnail = models.FileField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        indexes = [
            # Clean-up of unused uploads walks this (message IS NULL, oldest first).
            models.Index(fields=["created_at"], condition=models.Q(message__isnull=True), name="attachment_unused_idx"),
            models.Index(
                fields=["removed_at"], condition=models.Q(removed_at__isnull=False), name="attachment_removed_idx"
            ),
            # The quota sum and "my uploads".
            models.Index(fields=["uploader", "created_at"], name="attachment_uploader_idx"),
        ]

    def __str__(self) -> str:
        return self.name
