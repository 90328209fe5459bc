"""Signed-in devices over REST and the web settings page (one process; sockets in test_devices_live)."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import devices
from accounts.models import Device, User
from accounts.tests.factories import PASSWORD
from accounts.tests.htmlform import form_fields

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
SESSIONS = "/api/v1/auth/sessions/"
ME = "/api/v1/me/"
PASSWORD_URL = "/api/v1/me/password/"
NEW_PASSWORD = "a-much-better-passphrase-42"


def sign_in(username: str, user_agent: str = "TestApp/1.0") -> tuple[APIClient, dict]:
    """A new token device: (client authenticated as it, its token pair)."""
    client = APIClient(HTTP_USER_AGENT=user_agent)
    response = client.post(TOKEN, {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    pair = response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    return client, pair


def web_sign_in(username: str, password: str = PASSWORD, user_agent: str = "Firefox/140") -> Client:
    client = Client(HTTP_USER_AGENT=user_agent)
    response = client.post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 302
    return client


def refresh(pair: dict):
    return APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")


def test_each_sign_in_is_a_device_listed_with_the_callers_marked_current(make_user):
    make_user("alice")
    phone, _ = sign_in("alice", "ChatApp/2.1 (iPhone)")
    tablet, _ = sign_in("alice", "ChatApp/2.1 (iPad)")
    browser = web_sign_in("alice")
    response = phone.get(SESSIONS)
    assert response.status_code == 200
    listed = response.json()
    assert {d["kind"] for d in listed} == {"token", "web"} and len(listed) == 3
    assert set(listed[0]) == {"id", "kind", "created_at", "last_used_at", "user_agent", "current"}
    by_agent = {d["user_agent"]: d for d in listed}
    assert by_agent["ChatApp/2.1 (iPhone)"]["current"] is True
    assert by_agent["ChatApp/2.1 (iPad)"]["current"] is False
    assert by_agent["Firefox/140"]["kind"] == "web"
    # The browser, asking with its session cookie, is its own current device.
    from_web = {d["user_agent"]: d["current"] for d in browser.get(SESSIONS).json()}
    assert from_web == {"ChatApp/2.1 (iPhone)": False, "ChatApp/2.1 (iPad)": False, "Firefox/140": True}
    assert tablet.get(SESSIONS).status_code == 200


def test_rotation_keeps_the_device(make_user):
    make_user("alice")
    _, pair = sign_in("alice")
    rotated = refresh(pair)
    assert rotated.status_code == 200
    assert refresh(pair).status_code == 401  # the old refresh token stopped working
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {rotated.json()['access']}")
    [device] = client.get(SESSIONS).json()
    assert device["current"] is True
    assert Device.objects.count() == 1


def test_signing_out_a_device_stops_its_tokens_at_once_and_spares_the_others(make_user):
    make_user("alice")
    phone, _ = sign_in("alice", "phone")
    tablet, tablet_pair = sign_in("alice", "tablet")
    tablet_id = next(d["id"] for d in phone.get(SESSIONS).json() if d["user_agent"] == "tablet")
    assert phone.delete(f"{SESSIONS}{tablet_id}/").status_code == 204
    # The tablet's access token (well within its lifetime) is refused now, and so is its refresh.
    response = tablet.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert refresh(tablet_pair).status_code == 401
    assert phone.get(ME).status_code == 200
    assert [d["user_agent"] for d in phone.get(SESSIONS).json()] == ["phone"]
    assert phone.delete(f"{SESSIONS}{tablet_id}/").status_code == 404  # already signed out


def test_another_users_device_is_not_found(make_user):
    make_user("alice"), make_user("mallory")
    _, _ = sign_in("alice")
    mallory, _ = sign_in("mallory")
    alice_device = Device.objects.get(user__username="alice")
    assert mallory.delete(f"{SESSIONS}{alice_device.pk}/").status_code == 404
    assert Device.objects.get(pk=alice_device.pk).signed_out_at is None


def test_logout_all_signs_out_every_device_but_the_callers(make_user):
    make_user("alice")
    phone, phone_pair = sign_in("alice", "phone")
    tablet, tablet_pair = sign_in("alice", "tablet")
    browser = web_sign_in("alice")
    assert APIClient().post(LOGOUT, {"all": True}, format="json").status_code == 401  # needs the caller
    assert phone.post(LOGOUT, {"all": True}, format="json").status_code == 205
    assert tablet.get(ME).status_code == 401
    assert refresh(tablet_pair).status_code == 401
    assert browser.get("/").status_code == 302  # the web session ended: back to the login page
    assert phone.get(ME).status_code == 200
    assert refresh(phone_pair).status_code == 200


def test_logout_with_a_refresh_token_signs_that_device_out(make_user):
    make_user("alice")
    phone, phone_pair = sign_in("alice", "phone")
    assert APIClient().post(LOGOUT, {"refresh": phone_pair["refresh"]}, format="json").status_code == 205
    assert phone.get(ME).status_code == 401
    assert APIClient().post(LOGOUT, {}, format="json").status_code == 400


def test_password_change_by_rest_signs_out_the_other_devices(make_user):
    make_user("alice")
    phone, phone_pair = sign_in("alice", "phone")
    tablet, _ = sign_in("alice", "tablet")
    browser = web_sign_in("alice")
    wrong = phone.post(PASSWORD_URL, {"old_password": "nope", "new_password": NEW_PASSWORD}, format="json")
    assert wrong.status_code == 400 and "old_password" in wrong.json()
    weak = phone.post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": "12345678"}, format="json")
    assert weak.status_code == 400 and "new_password" in weak.json()
    assert tablet.get(ME).status_code == 200  # nothing happened yet
    ok = phone.post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
    assert ok.status_code == 204
    assert tablet.get(ME).status_code == 401
    assert browser.get("/").status_code == 302
    assert phone.get(ME).status_code == 200 and refresh(phone_pair).status_code == 200
    assert User.objects.get(username="alice").check_password(NEW_PASSWORD)
    assert APIClient().post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json").status_code == 401


def test_password_change_by_rest_from_the_web_keeps_that_session(make_user):
    make_user("alice")
    browser = web_sign_in("alice")
    other = web_sign_in("alice", user_agent="Chrome/140")
    csrf = browser.cookies["csrftoken"].value if "csrftoken" in browser.cookies else None
    if csrf is None:
        browser.get("/accounts/settings/")
        csrf = browser.cookies["csrftoken"].value
    response = browser.post(
        PASSWORD_URL,
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert response.status_code == 204
    assert browser.get("/").status_code == 200
    assert other.get("/").status_code == 302
    [device] = browser.get(SESSIONS).json()
    assert device["current"] is True and device["user_agent"] == "Firefox/140"


def test_settings_page_lists_devices_and_signs_one_out(make_user):
    make_user("alice")
    phone, _ = sign_in("alice", "ChatApp/2.1 (Android)")
    browser = web_sign_in("alice")
    page = browser.get("/accounts/settings/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "ChatApp/2.1 (Android)" in body and "this device" in body
    phone_id = Device.objects.get(user_agent="ChatApp/2.1 (Android)").pk
    fields = form_fields(body, None)
    assert "csrfmiddlewaretoken" in fields
    response = browser.post(
        f"/accounts/devices/{phone_id}/sign-out/", {"csrfmiddlewaretoken": fields["csrfmiddlewaretoken"]}
    )
    assert response.status_code == 302
    assert phone.get(ME).status_code == 401
    assert "ChatApp/2.1 (Android)" not in browser.get("/accounts/settings/").content.decode()
    # Signing out this very browser ends its session.
    own = Device.objects.get(kind="web", signed_out_at__isnull=True).pk
    assert browser.post(f"/accounts/devices/{own}/sign-out/")["Location"].startswith("/accounts/login/")
    assert browser.get("/").status_code == 302


def test_web_password_change_signs_out_others_and_keeps_this_browser(make_user):
    make_user("alice")
    phone, _ = sign_in("alice", "phone")
    browser = web_sign_in("alice")
    page = browser.get("/accounts/settings/").content.decode()
    fields = form_fields(page, "password-form")
    refused = browser.post("/accounts/password/", {**fields, "old_password": "wrong", "new_password": NEW_PASSWORD})
    assert refused.status_code == 400 and "not your current password" in refused.content.decode()
    fields.update(old_password=PASSWORD, new_password=NEW_PASSWORD)
    response = browser.post("/accounts/password/", fields, follow=True)
    assert "Your other devices are signed out" in response.content.decode()
    assert phone.get(ME).status_code == 401
    assert browser.get("/").status_code == 200
    # The device follows the session's new key: signing it out from elsewhere still ends it.
    web_device = Device.objects.get(kind="web", signed_out_at__isnull=True)
    devices.device_sign_out(user=web_device.user, device_id=web_device.pk)
    assert browser.get("/").status_code == 302


def test_web_logout_signs_the_device_out(make_user):
    make_user("alice")
    browser = web_sign_in("alice")
    assert browser.post("/accounts/logout/").status_code == 302
    assert Device.objects.get(kind="web").signed_out_at is not None


def test_deactivated_users_tokens_are_refused_at_once(make_user):
    from accounts import services

    alice = make_user("alice")
    phone, pair = sign_in("alice")
    services.user_set_active(user=alice, is_active=False)
    assert phone.get(ME).status_code == 401
    assert refresh(pair).status_code == 401


def test_the_device_check_adds_no_query_and_last_used_is_throttled(make_user, settings, django_assert_num_queries):
    make_user("alice")
    phone, _ = sign_in("alice")
    device = Device.objects.get()
    phone.get(ME)  # the first use in this process moves last_used_at (one UPDATE)
    first = Device.objects.get().last_used_at
    # me/ costs two queries, as before devices existed: the user row (with its device's
    # state, in the same statement) and the moderator flag.
    with django_assert_num_queries(2):
        assert phone.get(ME).status_code == 200
    assert Device.objects.get().last_used_at == first  # throttled: no write
    settings.DEVICE_TOUCH_SECONDS = 0
    with django_assert_num_queries(3):  # and the throttled write, now due
        assert phone.get(ME).status_code == 200
    assert Device.objects.get(pk=device.pk).last_used_at > first


def test_a_ban_signs_out_every_device_so_lifting_it_revives_none(make_user):
    from accounts import services

    alice = make_user("alice")
    phone, pair = sign_in("alice")
    services.user_set_active(user=alice, is_active=False)
    services.user_set_active(user=alice, is_active=True)
    assert phone.get(ME).status_code == 401 and refresh(pair).status_code == 401
    fresh, _ = sign_in("alice")  # signing in again works
    assert fresh.get(ME).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_with_one_token_get_one_pair(make_user):
    from conftest import needs_services
    from testsupport.factories import run_threads

    needs_services(postgres=True)  # row locks; SQLite serializes writers anyway
    make_user("alice")
    _, pair = sign_in("alice")
    statuses = run_threads(4, lambda i: refresh(pair).status_code)
    assert sorted(statuses) == [200, 401, 401, 401]


def test_devices_prune_deletes_only_rows_nothing_can_use_and_signed_out_tokens_stay_refused(make_user):
    make_user("pruned")
    access = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    now = timezone.now()
    signed_out_just_now, pair_just_now = sign_in("pruned")
    sign_in("pruned")  # signed out long ago, below
    _, expired_pair = sign_in("pruned")
    in_use, _ = sign_in("pruned")
    ids = list(Device.objects.filter(user__username="pruned").order_by("id").values_list("id", flat=True))
    assert signed_out_just_now.post(LOGOUT, {"refresh": pair_just_now["refresh"]}, format="json").status_code == 205
    Device.objects.filter(pk=ids[1]).update(signed_out_at=now - access - timedelta(minutes=1))
    Device.objects.filter(pk=ids[2]).update(
        last_used_at=now - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] - access - timedelta(minutes=1)
    )

    out = io.StringIO()
    call_command("devices_prune", stdout=out)
    assert out.getvalue().strip() == "deleted 2 device(s)"

    assert set(Device.objects.filter(user__username="pruned").values_list("id", flat=True)) == {ids[0], ids[3]}
    # The row kept for the device signed out just now still refuses its access token.
    assert signed_out_just_now.get(ME).status_code == 401
    assert in_use.get(ME).status_code == 200
    # A pruned device's refresh token names a device that is gone: refused.
    assert refresh(expired_pair).status_code == 401
