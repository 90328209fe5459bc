import pytest
from django.test import Client

from accounts import roles, services
from accounts.tests.factories import PASSWORD
from messaging import services as messaging
from rooms import services as rooms

pytestmark = pytest.mark.django_db


def test_moderators_read_notifications_but_cannot_edit_them(make_user):
    roles.ensure_moderators_group()
    services.user_set_moderator(user=make_user("mod"), is_moderator=True)
    alice, bob = make_user("alice"), make_user("bob")
    dm, _ = rooms.direct_get_or_create(creator=alice, user_ids=[bob.pk])
    messaging.message_send(sender=alice, room_id=dm.pk, body="hello")
    client = Client()
    client.login(username="mod", password=PASSWORD)
    response = client.get("/admin/notifications/notification/", {"q": "bob"})
    assert response.status_code == 200
    assert "direct_message" in response.content.decode() or "Direct message" in response.content.decode()
    assert client.get("/admin/notifications/notification/add/").status_code == 403
