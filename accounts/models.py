from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

MODERATORS_GROUP = "moderators"


class User(AbstractUser):
    display_name = models.CharField(max_length=64, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    @cached_property
    def is_moderator(self) -> bool:
        """Site moderators may do in any room what its owner may."""
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return self.groups.filter(name=MODERATORS_GROUP).exists()


class Device(models.Model):
    """One signed-in device: a JWT refresh-token family (mobile) or a web session.

    Rotation keeps a family's device id (the `device` claim travels from refresh token
    to refresh token and into every access token), so signing a device out stops all of
    its tokens at once. Signed-out rows stay (signed_out_at set): an access token still
    inside its lifetime names its device, and the row is what refuses it.
    """

    class Kind(models.TextChoices):
        TOKEN = "token"
        WEB = "web"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="devices")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField()
    user_agent = models.CharField(max_length=256, blank=True)
    # The web session's key (web devices only), to end that session on sign-out.
    session_key = models.CharField(max_length=64, blank=True)
    signed_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "signed_out_at"], name="device_user_active_idx")]

    def __str__(self) -> str:
        return f"{self.kind} device {self.pk} of {self.user_id}"


class AuditLog(models.Model):
    """Who did which moderation act to whom, when and why. Written only by services.

    Rooms and messages are named by id and a summary, not by foreign key: an entry must
    outlive the room it records the deletion of (and accounts sits below rooms).
    """

    class Kind(models.TextChoices):
        BAN = "ban"
        UNBAN = "unban"
        MODERATOR_GRANTED = "moderator_granted"
        MODERATOR_REVOKED = "moderator_revoked"
        PRIVILEGES_CHANGED = "privileges_changed"
        PASSWORD_SET = "password_set"
        ROLE_CHANGED = "role_changed"
        MEMBER_REMOVED = "member_removed"
        ROOM_DELETED = "room_deleted"
        MESSAGE_DELETED = "message_deleted"
        ATTACHMENT_REMOVED = "attachment_removed"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_acts")
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    target_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    room_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.kind} by {self.actor_id}"

    def save(self, *args, **kwargs) -> None:
        # Entries are written once; an edit would make the log worthless as a record.
        if self.pk is not None:
            raise ValueError("Audit log entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit log entries cannot be deleted.")
