"""Notification work on the task queue (see chatproject/tasks.py)."""

from django_tasks import task

from notifications import services


@task()
def notify_for_message_later(message_id: int) -> int:
    """Makes the notifications of a message sent to a large room; answers how many."""
    return services.notify_for_message_queued(message_id=message_id)
