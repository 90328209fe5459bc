from django.conf import settings
from django.db import models

from rooms.models import Room


class MessageQuerySet(models.QuerySet):
    def for_wire(self) -> "MessageQuerySet":
        """Everything the message shape needs, eager-loaded."""
        return self.select_related("sender")


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
