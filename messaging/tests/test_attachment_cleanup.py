"""Clean-up of unused uploads and removed files, and moderation of attachments in the admin."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from conftest import needs_services
from messaging import services as messaging
from messaging.models import Attachment
from messaging.tests.filesamples import PDF, png, upload
from testsupport.factories import create_room, frames, record_published, run_threads

pytestmark = pytest.mark.usefixtures("media_root")


def uploaded(user, name="photo.png", content=None) -> Attachment:
    data = messaging.attachment_upload(uploader=user, file=upload(name, content or png()))
    return Attachment.objects.get(pk=data["id"])


def age(attachment: Attachment, *, hours: float, field: str = "created_at") -> None:
    Attachment.objects.filter(pk=attachment.pk).update(**{field: timezone.now() - timedelta(hours=hours)})


def on_disk(media_root) -> set[str]:
    return {str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file()}


@pytest.mark.django_db
class TestCleanup:
    def test_unused_uploads_go_after_the_orphan_hours_used_ones_stay(self, make_user, media_root, settings):
        settings.ATTACHMENT_ORPHAN_HOURS = 24
        alice = make_user("alice")
        room = create_room(alice)
        old_unused, new_unused, old_used = uploaded(alice), uploaded(alice), uploaded(alice)
        messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[old_used.pk])
        age(old_unused, hours=25)
        age(old_used, hours=25)
        age(new_unused, hours=23)
        out = StringIO()
        call_command("attachments_cleanup", stdout=out)
        assert "deleted 1 unused upload(s), 0 removed attachment(s)" in out.getvalue()
        assert set(Attachment.objects.values_list("pk", flat=True)) == {new_unused.pk, old_used.pk}
        assert on_disk(media_root) == {new_unused.file.name, old_used.file.name}

    def test_files_of_deleted_messages_go_after_the_grace_period(self, make_user, media_root, settings):
        settings.ATTACHMENT_DELETE_GRACE_HOURS = 24
        alice = make_user("alice")
        room = create_room(alice)
        first, second = uploaded(alice), uploaded(alice, "a.pdf", PDF)
        thumb_name = first.thumbnail.storage.save("thumbnails/t.png", upload("t.png", png()))
        Attachment.objects.filter(pk=first.pk).update(thumbnail=thumb_name)
        sent = messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[first.pk, second.pk])
        messaging.message_delete(actor=alice, message_id=sent.message.pk)
        assert messaging.attachments_cleanup() == {"unused": 0, "removed": 0}  # within the grace period
        assert len(on_disk(media_root)) == 3
        Attachment.objects.update(removed_at=timezone.now() - timedelta(hours=25))
        assert messaging.attachments_cleanup(batch_size=1) == {"unused": 0, "removed": 2}
        assert Attachment.objects.count() == 0
        assert on_disk(media_root) == set()


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_share_the_work(make_user, media_root, settings):
    needs_services(postgres=True)
    settings.ATTACHMENT_ORPHAN_HOURS = 1
    alice = make_user("alice")
    for _ in range(40):
        age(uploaded(alice, "n.txt", b"note"), hours=2)
    results = run_threads(4, lambda i: messaging.attachments_cleanup(batch_size=5))
    assert sum(r["unused"] for r in results) == 40  # each deleted exactly once, by one of them
    assert Attachment.objects.count() == 0
    assert on_disk(media_root) == set()


ATTACHMENTS = reverse("admin:messaging_attachment_changelist")


@pytest.mark.django_db
class TestAdmin:
    @pytest.fixture
    def sent(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, kind="private", members=[bob])
        photo, pdf = uploaded(alice), uploaded(alice, "minutes.pdf", PDF)
        result = messaging.message_send(sender=alice, room_id=room.pk, body="see", attachments=[photo.pk, pdf.pk])
        return result.message, photo, pdf, bob

    def test_the_message_page_lists_its_attachments(self, client, moderator, sent):
        message, _, _, _ = sent
        page = client.get(reverse("admin:messaging_message_change", args=[message.pk]))
        assert page.status_code == 200
        assert b"photo.png" in page.content and b"minutes.pdf" in page.content

    def test_removing_one_goes_through_the_service(
        self, client, moderator, sent, api, monkeypatch, django_capture_on_commit_callbacks
    ):
        message, photo, pdf, bob = sent
        published = record_published(monkeypatch)
        form = {"action": "moderate_remove", "_selected_action": [photo.pk]}
        confirmation = client.post(ATTACHMENTS, form)
        assert confirmation.status_code == 200 and b"Reason" in confirmation.content  # asks first
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(ATTACHMENTS, {**form, "confirm": "yes", "reason": "spam"})
        assert response.status_code == 302
        entry = AuditLog.objects.get(kind=AuditLog.Kind.ATTACHMENT_REMOVED)
        assert (entry.actor, entry.target_user, entry.message_id, entry.reason) == (
            moderator,
            message.sender,
            message.pk,
            "spam",
        )
        ((group, frame),) = frames(published, "message.updated")
        assert group == f"room.{message.room_id}"
        assert [a["name"] for a in frame["message"]["attachments"]] == ["minutes.pdf"]
        assert api.as_user(bob).get(f"/api/v1/attachments/{photo.pk}/download/").status_code == 404
        assert api.as_user(bob).get(f"/api/v1/attachments/{pdf.pk}/download/").status_code == 200

    def test_the_list_takes_fixed_queries(self, client, moderator, sent, make_user, django_assert_num_queries):
        client.get(ATTACHMENTS)  # warm up: the session is read from the database once, then cached
        with CaptureQueriesContext(connection) as few:
            assert client.get(ATTACHMENTS).status_code == 200
        carol = make_user("carol")
        room = create_room(carol, name="more")
        for _ in range(10):
            messaging.message_send(sender=carol, room_id=room.pk, body="", attachments=[uploaded(carol).pk])
        with django_assert_num_queries(len(few)):
            assert client.get(ATTACHMENTS).status_code == 200

    def test_outsiders_may_not_remove(self, sent, make_user):
        from chatproject.errors import NotFound, PermissionDenied

        _, photo, _, bob = sent
        with pytest.raises(PermissionDenied):
            messaging.attachment_remove(actor=bob, attachment_id=photo.pk)  # a plain member, not the author
        with pytest.raises(NotFound):
            messaging.attachment_remove(actor=make_user("carol"), attachment_id=photo.pk)
        assert Attachment.objects.get(pk=photo.pk).removed_at is None


@pytest.mark.django_db(transaction=True)
def test_two_sends_racing_for_one_upload_store_one_message(make_user):
    needs_services(postgres=True)
    from chatproject.errors import FieldErrors
    from messaging.models import Message

    alice = make_user("alice")
    room = create_room(alice)
    photo = uploaded(alice)

    def attempt(i):
        try:
            return messaging.message_send(
                sender=alice, room_id=room.pk, body=f"try {i}", client_id=f"c{i}", attachments=[photo.pk]
            ).message.pk
        except FieldErrors:
            return None

    results = run_threads(6, attempt)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert list(Message.objects.filter(room=room).values_list("pk", "seq")) == [(winners[0], 1)]
    assert Attachment.objects.get(pk=photo.pk).message_id == winners[0]


@pytest.mark.django_db(transaction=True)
def test_parallel_uploads_cannot_overshoot_the_quota(make_user, settings):
    needs_services(postgres=True)
    from chatproject.errors import TooLarge

    settings.ATTACHMENT_QUOTA_BYTES = 3000
    alice = make_user("alice")

    def attempt(i):
        try:
            messaging.attachment_upload(uploader=alice, file=upload(f"{i}.txt", b"x" * 1000))
            return True
        except TooLarge:
            return False

    assert sum(run_threads(8, attempt)) == 3
    assert Attachment.objects.filter(uploader=alice).count() == 3


@pytest.mark.django_db
def test_cleanup_deletes_from_the_bucket_on_s3(make_user, s3_bucket, settings):
    client, bucket = s3_bucket
    settings.ATTACHMENT_ORPHAN_HOURS = 1
    alice = make_user("alice")
    stale, fresh = uploaded(alice), uploaded(alice, "b.pdf", PDF)
    age(stale, hours=2)
    assert messaging.attachments_cleanup() == {"unused": 1, "removed": 0}
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {fresh.file.name}
