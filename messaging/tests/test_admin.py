import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLog
from messaging.models import Message
from testsupport.factories import create_room, frames, record_published, send

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:messaging_message_changelist")


@pytest.fixture
def room(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, name="lobby", members=[bob])
    send(alice, room, "the quick brown fox")
    send(bob, room, "lazy dogs sleep")
    return room


def shown(response) -> list[str]:
    return [message.body for message in response.context["cl"].result_list]


def test_moderator_searches_by_body_username_and_room(client, moderator, room, make_user):
    other = create_room(make_user("carol"), name="elsewhere", topic="quiet")
    send(other.created_by, other, "nothing to see")
    assert client.get(CHANGELIST).status_code == 200
    assert shown(client.get(CHANGELIST, {"q": "fox"})) == ["the quick brown fox"]
    assert shown(client.get(CHANGELIST, {"q": "bob"})) == ["lazy dogs sleep"]
    assert sorted(shown(client.get(CHANGELIST, {"q": "lobby"}))) == ["lazy dogs sleep", "the quick brown fox"]
    assert shown(client.get(CHANGELIST, {"q": "quiet"})) == ["nothing to see"]


def test_filters(client, moderator, room):
    Message.objects.filter(body__contains="fox").update(deleted=True)
    assert shown(client.get(CHANGELIST, {"deleted__exact": "0"})) == ["lazy dogs sleep"]
    assert len(shown(client.get(CHANGELIST, {"room__kind": "public"}))) == 2
    assert shown(client.get(CHANGELIST, {"room__kind": "direct"})) == []


def test_moderation_delete_goes_through_the_service(
    client, moderator, room, monkeypatch, django_capture_on_commit_callbacks
):
    published = record_published(monkeypatch)
    target = Message.objects.get(body__contains="fox")
    form = {"action": "moderate_delete", "_selected_action": [target.pk]}
    confirmation = client.post(CHANGELIST, form)
    assert confirmation.status_code == 200 and b"Reason" in confirmation.content  # asks first
    assert not Message.objects.get(pk=target.pk).deleted
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGELIST, {**form, "confirm": "yes", "reason": "off-topic"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.deleted, target.body, target.seq) == (True, "", 1)
    entry = AuditLog.objects.get(kind="message_deleted")
    assert (entry.actor, entry.message_id, entry.room_id, entry.reason) == (moderator, target.pk, room.pk, "off-topic")
    [(group, frame)] = frames(published, "message.deleted")
    assert (group, frame["id"]) == (f"room.{room.pk}", target.pk)
    assert Message.objects.filter(deleted=False).count() == 1


def test_plain_staff_without_the_moderator_role_is_refused(client, room, make_user):
    from django.contrib.auth.models import Permission

    staff = make_user("staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_message", "change_message"]))
    client.force_login(staff)
    target = Message.objects.get(body__contains="fox")
    form = {"action": "moderate_delete", "_selected_action": [target.pk], "confirm": "yes"}
    response = client.post(CHANGELIST, form, follow=True)
    assert "moderator may delete" in response.content.decode()
    target.refresh_from_db()
    assert not target.deleted


def test_change_form_cannot_rewrite_history(client, moderator, room):
    target = Message.objects.get(body__contains="fox")
    url = reverse("admin:messaging_message_change", args=[target.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"body": "rewritten", "seq": 99, "room": 999})
    target.refresh_from_db()
    assert (target.body, target.seq, target.room_id) == ("the quick brown fox", 1, room.pk)
    assert client.get(reverse("admin:messaging_message_delete", args=[target.pk])).status_code == 403
    assert client.get(reverse("admin:messaging_message_add")).status_code == 403


def test_changelist_query_count_does_not_grow_with_rows(client, moderator, make_user, django_assert_num_queries):
    for i in range(3):
        user = make_user(f"u{i}")
        room = create_room(user, name=f"room {i}")
        for n in range(10):
            send(user, room, f"message {n}" + (" needle" if n == i else ""))
    client.get(CHANGELIST, {"q": "needle"})  # warm up: session, content types
    with CaptureQueriesContext(connection) as few:
        assert len(shown(client.get(CHANGELIST, {"q": "needle"}))) == 3
    with django_assert_num_queries(len(few)):
        assert len(shown(client.get(CHANGELIST, {"q": "message"}))) == 30
