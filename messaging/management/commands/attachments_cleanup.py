"""`manage.py attachments_cleanup`: delete unused uploads and the files of deleted messages.

Run it every few minutes to hourly from cron or a Kubernetes CronJob (docs/attachments.md);
several machines may run it at the same time.
"""

from django.core.management.base import BaseCommand

from messaging.services import attachments_cleanup


class Command(BaseCommand):
    help = (
        "Deletes uploads never used in a message after ATTACHMENT_ORPHAN_HOURS, and the files of deleted "
        "messages and removed attachments after ATTACHMENT_DELETE_GRACE_HOURS. Safe to run concurrently."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=100, help="rows locked and deleted per transaction")

    def handle(self, *args, batch_size: int, **options):
        counts = attachments_cleanup(batch_size=batch_size)
        self.stdout.write(f"deleted {counts['unused']} unused upload(s), {counts['removed']} removed attachment(s)")
