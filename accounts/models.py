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
