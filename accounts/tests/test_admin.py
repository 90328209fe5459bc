import pytest
from django.test import Client

from accounts import roles, services
from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(make_user):
    roles.ensure_moderators_group()
    return services.user_set_moderator(user=make_user("mod"), is_moderator=True)


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_moderator_role_gives_admin_access_with_the_right_permissions(moderator, make_user):
    assert moderator.is_staff and moderator.is_moderator
    assert moderator.has_perm("messaging.delete_message")
    assert not moderator.has_perm("accounts.delete_user")
    plain = make_user("plain")
    assert logged_in(plain).get("/admin/").status_code == 302


def test_user_list_is_searchable_and_shows_role_and_presence(moderator, make_user, django_assert_max_num_queries):
    make_user("alice", display_name="Alice Liddell")
    make_user("bob")
    client = logged_in(moderator)
    response = client.get("/admin/accounts/user/", {"q": "liddell"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "alice" in body and ">bob<" not in body
    for n in range(20):
        make_user(f"extra{n}")
    with django_assert_max_num_queries(12):
        assert client.get("/admin/accounts/user/").status_code == 200


def test_superuser_assigns_and_removes_the_moderator_role(make_user):
    admin_user = make_user("root", is_superuser=True, is_staff=True)
    target = make_user("carol")
    client = logged_in(admin_user)
    roles.ensure_moderators_group()
    client.post("/admin/accounts/user/", {"action": "make_moderator", "_selected_action": [target.pk]})
    target = User.objects.get(pk=target.pk)
    assert target.is_moderator and target.is_staff
    client.post("/admin/accounts/user/", {"action": "remove_moderator", "_selected_action": [target.pk]})
    target = User.objects.get(pk=target.pk)
    assert not target.is_moderator and not target.is_staff


def test_deactivate_action_bans(moderator, make_user):
    target = make_user("spammer")
    client = logged_in(moderator)
    form = {"action": "deactivate", "_selected_action": [target.pk]}
    confirmation = client.post("/admin/accounts/user/", form)
    assert confirmation.status_code == 200 and b"Reason" in confirmation.content
    assert User.objects.get(pk=target.pk).is_active  # nothing happens before the confirmation
    client.post("/admin/accounts/user/", {**form, "confirm": "yes", "reason": "spam"})
    assert not User.objects.get(pk=target.pk).is_active
