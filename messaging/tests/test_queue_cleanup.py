"""Attachment clean-up scheduled on the task queue and run by the real worker process."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from chatproject.testing import WorkerProcess, database_url_for_tests
from conftest import needs_services
from messaging import services as messaging
from messaging.models import Attachment
from messaging.tests.filesamples import PDF, upload
from testsupport.factories import create_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]
CLEANUP = "messaging.tasks.attachments_cleanup"


def test_uploads_and_deletions_schedule_one_sweep_per_hour(make_user, media_root):
    alice = make_user("alice")
    room = create_room(alice, name="docs")
    first = messaging.attachment_upload(uploader=alice, file=upload("a.pdf", PDF))
    messaging.attachment_upload(uploader=alice, file=upload("b.pdf", PDF))
    due = timezone.now() + timedelta(hours=settings.ATTACHMENT_ORPHAN_HOURS)
    (sweep,) = DBTaskResult.objects.filter(task_path=CLEANUP)  # two uploads, one sweep
    assert sweep.status == "READY" and due <= sweep.run_after <= due + timedelta(hours=1)
    sent = messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[first["id"]]).message
    messaging.message_delete(actor=alice, message_id=sent.pk)
    # The grace period is as long as the orphan time by default: the same hour's sweep.
    assert DBTaskResult.objects.filter(task_path=CLEANUP).count() == 1


def test_the_worker_deletes_unused_uploads_when_their_time_comes(make_user, settings, tmp_path):
    needs_services(postgres=True)
    var = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": var / "media"}},
    }
    alice = make_user("alice")
    unused = messaging.attachment_upload(uploader=alice, file=upload("forgotten.pdf", PDF))
    stored = var / "media" / Attachment.objects.get(pk=unused["id"]).file.name
    assert stored.exists()
    # Time passes: the upload is old and its sweep is due.
    Attachment.objects.filter(pk=unused["id"]).update(created_at=timezone.now() - timedelta(hours=25))
    DBTaskResult.objects.filter(task_path=CLEANUP).update(run_after=timezone.now())
    env = {"DATABASE_URL": database_url_for_tests(), "VAR_DIR": str(var), "SECRET_KEY": settings.SECRET_KEY}
    with WorkerProcess(env, log=tmp_path / "worker.log"):
        deadline = time.monotonic() + 60
        while Attachment.objects.filter(pk=unused["id"]).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not Attachment.objects.filter(pk=unused["id"]).exists()
    assert not stored.exists()
    sweep = DBTaskResult.objects.get(task_path=CLEANUP)
    assert sweep.status == "SUCCESSFUL" and sweep.return_value == {"unused": 1, "removed": 0}
