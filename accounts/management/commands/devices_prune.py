"""`manage.py devices_prune`: delete the signed-in device rows nothing can use any more.

Run it daily or hourly beside `flushexpiredtokens` and `clearsessions` (the Kubernetes
CronJob does, docs/deploy.md); safe to run on several machines at once.
"""

from django.core.management.base import BaseCommand

from accounts.devices import devices_prune


class Command(BaseCommand):
    help = (
        "Deletes devices signed out longer ago than an access token lives, and devices unused for longer "
        "than their refresh token or web session lives (they can no longer be used)."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"deleted {devices_prune()} device(s)")
