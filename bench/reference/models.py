from django.db import models


class Message(models.Model):
    """One chat message, saved only in the REFERENCE_PERSIST=1 variant."""

    room = models.CharField(max_length=100, db_index=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.room}: {self.body[:40]}"
