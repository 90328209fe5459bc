import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts import roles, services
from accounts.models import AuditLog, User
from accounts.tests.factories import PASSWORD
from accounts.tests.htmlform import form_fields

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


# --- rights go through the services; moderators cannot escalate ---------------------------


def change_url(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def post_change_form(client: Client, user: User, **changes):
    """Loads the user's admin change form, changes some fields, posts it back as a browser would."""
    page = client.get(change_url(user))
    assert page.status_code == 200
    fields = form_fields(page.content.decode(), "user_form")
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)  # an unticked checkbox is not sent
        else:
            fields[name] = value if isinstance(value, list) else [value]
    return client.post(change_url(user), fields)


def test_moderator_cannot_make_themselves_superuser_or_staff_through_the_form(moderator):
    client = logged_in(moderator)
    page = client.get(change_url(moderator)).content.decode()
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page  # shown read-only
    everyone = list(Group.objects.values_list("pk", flat=True))
    response = post_change_form(
        client, moderator, is_superuser="on", is_staff="on", groups=[str(pk) for pk in everyone], display_name="Mod"
    )
    assert response.status_code == 302
    fresh = User.objects.get(pk=moderator.pk)
    assert fresh.display_name == "Mod"  # the ordinary field was saved
    assert not fresh.is_superuser
    assert set(fresh.groups.values_list("name", flat=True)) == {"moderators"}
    assert not AuditLog.objects.filter(kind="privileges_changed").exists()


def test_moderator_cannot_grant_or_take_the_moderator_role(moderator, make_user):
    other_mod = services.user_set_moderator(user=make_user("mod2"), is_moderator=True)
    plain = make_user("plain")
    client = logged_in(moderator)
    for action, target in (("make_moderator", plain), ("remove_moderator", other_mod)):
        client.post("/admin/accounts/user/", {"action": action, "_selected_action": [target.pk]})
    assert not User.objects.get(pk=plain.pk).is_moderator
    assert User.objects.get(pk=other_mod.pk).is_moderator
    # Nor ban another moderator (staff): only superusers may.
    form = {"action": "deactivate", "_selected_action": [other_mod.pk], "confirm": "yes"}
    response = client.post("/admin/accounts/user/", form, follow=True)
    assert "Only superusers may deactivate" in response.content.decode()
    assert User.objects.get(pk=other_mod.pk).is_active
    assert not AuditLog.objects.filter(actor=moderator).exists()


def test_moderator_cannot_edit_a_superuser(moderator, make_user):
    root = make_user("root", is_superuser=True, is_staff=True)
    client = logged_in(moderator)
    assert client.get(change_url(root)).status_code == 200  # may look
    fields = form_fields(logged_in(root).get(change_url(root)).content.decode(), "user_form")
    fields.pop("is_active", None)
    fields["display_name"] = ["pwned"]
    assert client.post(change_url(root), fields).status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.display_name == ""
    response = client.post(
        "/admin/accounts/user/", {"action": "deactivate", "_selected_action": [root.pk], "confirm": "yes"}, follow=True
    )
    assert "Only superusers may deactivate" in response.content.decode()
    assert User.objects.get(pk=root.pk).is_active
    # Nor set a superuser's password.
    assert client.get(f"/admin/accounts/user/{root.pk}/password/").status_code == 403


def test_deactivation_through_the_change_form_runs_the_service(
    moderator, make_user, django_capture_on_commit_callbacks, monkeypatch
):
    from chatproject import realtime

    published = []
    monkeypatch.setattr(realtime, "_publish_from_any_thread", lambda topics, event: published.append((topics, event)))
    target = make_user("spammer")
    client = logged_in(moderator)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change_form(client, target, is_active=None, reason="posting spam links")
    assert response.status_code == 302
    assert not User.objects.get(pk=target.pk).is_active
    disconnects = [(topics, {k: v for k, v in event.items() if k != "committed_at"}) for topics, event in published]
    assert ([f"user.{target.pk}"], {"kind": "disconnect", "code": 4403}) in disconnects
    entry = AuditLog.objects.get(kind="ban")
    assert (entry.kind, entry.actor, entry.target_user, entry.reason) == (
        "ban",
        moderator,
        target,
        "posting spam links",
    )
    # And back: unban is recorded too.
    with django_capture_on_commit_callbacks(execute=True):
        post_change_form(client, target, is_active="on")
    assert User.objects.get(pk=target.pk).is_active
    assert AuditLog.objects.filter(kind="unban", target_user=target).count() == 1


def test_moderator_cannot_deactivate_themselves_through_the_form(moderator):
    response = post_change_form(logged_in(moderator), moderator, is_active=None)
    assert response.status_code == 200 and "cannot deactivate or reactivate yourself" in response.content.decode()
    assert User.objects.get(pk=moderator.pk).is_active


def test_superuser_changes_rights_through_the_form_and_it_is_recorded(make_user):
    roles.ensure_moderators_group()
    root = make_user("root", is_superuser=True, is_staff=True)
    target = make_user("dora")
    client = logged_in(root)
    moderators = Group.objects.get(name="moderators")
    response = post_change_form(client, target, groups=[str(moderators.pk)], reason="new moderator for #help")
    assert response.status_code == 302
    target = User.objects.get(pk=target.pk)
    assert target.is_moderator and target.is_staff
    granted = AuditLog.objects.get(kind="moderator_granted")
    assert (granted.actor, granted.target_user, granted.reason) == (root, target, "new moderator for #help")
    post_change_form(client, target, is_superuser="on")
    assert User.objects.get(pk=target.pk).is_superuser
    assert "superuser on" in AuditLog.objects.filter(kind="privileges_changed").first().summary


def test_audit_log_cannot_be_added_changed_or_deleted_even_by_superusers(moderator, make_user):
    target = make_user("victim")
    services.user_set_active(actor=moderator, user=target, is_active=False, reason="spam")
    entry = AuditLog.objects.get(kind="ban")
    root = make_user("root", is_superuser=True, is_staff=True)
    for user in (root, moderator):
        client = logged_in(user)
        assert client.get("/admin/accounts/auditlog/").status_code == 200
        assert client.get("/admin/accounts/auditlog/add/").status_code == 403
        detail = f"/admin/accounts/auditlog/{entry.pk}/change/"
        assert client.get(detail).status_code == 200  # view only
        client.post(detail, {"reason": "nothing happened", "kind": "unban"})
        assert client.get(f"/admin/accounts/auditlog/{entry.pk}/delete/").status_code == 403
        assert client.post(f"/admin/accounts/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
        client.post(
            "/admin/accounts/auditlog/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
        )
    entry = AuditLog.objects.get(pk=entry.pk)
    assert (entry.kind, entry.reason) == ("ban", "spam")
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_audit_log_filters_by_actor_target_and_kind(moderator, make_user):
    root = make_user("root", is_superuser=True, is_staff=True)
    a, b = make_user("aaa"), make_user("bbb")
    services.user_set_active(actor=moderator, user=a, is_active=False)
    services.user_set_active(actor=root, user=b, is_active=False)
    services.user_set_active(actor=root, user=b, is_active=True)
    client = logged_in(moderator)

    def rows(**params) -> int:
        response = client.get("/admin/accounts/auditlog/", params)
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert rows(kind__exact="ban") == 2
    assert rows(actor__id__exact=root.pk) == 2
    assert rows(target_user__id__exact=a.pk) == 1
    assert rows(kind__exact="unban") == 1


def test_only_superusers_set_passwords_and_that_signs_the_user_out(moderator, make_user):
    from accounts.devices import tokens_for_user
    from accounts.models import Device

    target = make_user("frank")
    tokens_for_user(target)
    path = f"/admin/accounts/user/{target.pk}/password/"
    assert logged_in(moderator).get(path).status_code == 403
    root = make_user("root", is_superuser=True, is_staff=True)
    client = logged_in(root)
    new = "another-long-passphrase-77"
    response = client.post(path, {"password1": new, "password2": new, "set_usable_password": "true"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password(new)
    assert not Device.objects.filter(user=target, signed_out_at__isnull=True).exists()
    assert AuditLog.objects.filter(kind="password_set", actor=root, target_user=target).count() == 1
