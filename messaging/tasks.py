"""Message work on the task queue (see chatproject/tasks.py): image thumbnails, attachment clean-up."""

from django_tasks import task

from messaging import services


@task()
def attachment_thumbnail(attachment_id: int) -> bool:
    """Makes an uploaded image's thumbnail; the room hears message.updated if it is already shown."""
    return services.attachment_thumbnail_make(attachment_id=attachment_id)


@task()
def attachments_cleanup() -> dict[str, int]:
    """Deletes the files whose time has come: what `manage.py attachments_cleanup` does, scheduled."""
    return services.attachments_cleanup()
