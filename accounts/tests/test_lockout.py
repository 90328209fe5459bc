"""Failed-login lock-outs: only failures count, per username and per address, on every door."""

import time

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from accounts import services
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
WEB_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def throttled_count(scope: str) -> float:
    return REGISTRY.get_sample_value("chat_throttled_total", {"scope": scope}) or 0.0


def rest_login(api, username: str, password: str, **extra):
    return api.post(TOKEN, {"username": username, "password": password}, format="json", **extra)


def form_login(path: str, username: str, password: str, **extra):
    return Client(**extra).post(path, {"username": username, "password": password, "next": "/admin/"})


def test_fifty_correct_logins_from_one_address_all_succeed(api, make_user):
    # An office behind one NAT address signing in, several people twice: nobody is refused.
    users = [make_user(f"colleague{n}") for n in range(25)]
    answers = [rest_login(api, user.username, PASSWORD).status_code for user in users * 2]
    assert answers == [200] * 50
    # A person on many devices is not refused either.
    assert [rest_login(api, "colleague0", PASSWORD).status_code for _ in range(15)] == [200] * 15


def test_eleventh_failure_for_a_username_is_refused_by_rest(api, make_user):
    make_user("gina")
    before = throttled_count("login")
    assert [rest_login(api, "gina", "wrong").status_code for _ in range(10)] == [401] * 10
    # Locked now: even the right password is refused, with a wait, before it is checked.
    locked = rest_login(api, "gina", PASSWORD)
    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many failed logins; try again later.", "code": "throttled"}
    assert 1 <= int(locked["Retry-After"]) <= 300
    assert throttled_count("login") == before + 1
    # The same username in another case is the same account.
    assert rest_login(api, "GINA", PASSWORD).status_code == 429
    # From another address too: the username is what is locked.
    assert rest_login(api, "gina", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 429
    # Someone else at the same address is not punished for gina's attempts.
    make_user("hank")
    assert rest_login(api, "hank", PASSWORD).status_code == 200


@pytest.mark.parametrize("path", [WEB_LOGIN, ADMIN_LOGIN])
def test_the_web_and_admin_login_forms_lock_the_same_way(path, make_user):
    make_user("dana", is_staff=True)
    for _ in range(10):
        response = form_login(path, "dana", "wrong")
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
    response = form_login(path, "dana", PASSWORD)
    assert response.status_code == 200  # the form again, with the reason, and no session
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in response.client.session


def test_failures_count_across_doors(api, make_user):
    make_user("erin", is_staff=True)
    for n in range(10):
        if n % 3 == 0:
            rest_login(api, "erin", "wrong")
        else:
            form_login(WEB_LOGIN if n % 3 == 1 else ADMIN_LOGIN, "erin", "wrong")
    assert rest_login(api, "erin", PASSWORD).status_code == 429
    assert "Too many failed logins" in form_login(ADMIN_LOGIN, "erin", PASSWORD).content.decode()


def test_thirty_failures_from_one_address_lock_that_address(api, make_user):
    make_user("ivan")
    for n in range(30):
        assert rest_login(api, f"guess{n}", "wrong").status_code == 401
    assert rest_login(api, "ivan", PASSWORD).status_code == 429
    assert rest_login(api, "ivan", PASSWORD, REMOTE_ADDR="10.9.9.9").status_code == 200


def test_a_username_that_looks_like_an_address_does_not_lock_that_address(api, make_user):
    make_user("jo")
    for _ in range(30):
        rest_login(api, "10.7.7.7", "wrong")
    assert rest_login(api, "jo", PASSWORD, REMOTE_ADDR="10.7.7.7").status_code == 200


def test_the_lock_ends_after_the_lockout_time(api, make_user, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 2
    settings.AXES_COOLOFF_TIME = 2 / 3600  # hours, as axes reads a number
    make_user("kim")
    for _ in range(10):
        rest_login(api, "kim", "wrong")
    assert rest_login(api, "kim", PASSWORD).status_code == 429
    time.sleep(2.5)
    assert rest_login(api, "kim", PASSWORD).status_code == 200


def test_forwarded_address_counts_only_from_a_trusted_proxy(api, make_user, settings):
    import ipaddress

    make_user("lee")
    # An untrusted client cannot pick a fresh address for each guess by sending the header.
    for n in range(30):
        rest_login(api, f"x{n}", "wrong", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    assert rest_login(api, "lee", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429

    # Behind a trusted proxy each client is told apart by the address the proxy saw.
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for n in range(30):
        rest_login(api, f"y{n}", "wrong", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.200")
    behind = {"REMOTE_ADDR": "10.0.0.2"}
    assert rest_login(api, "lee", PASSWORD, **behind, HTTP_X_FORWARDED_FOR="198.51.100.200").status_code == 429
    assert rest_login(api, "lee", PASSWORD, **behind, HTTP_X_FORWARDED_FOR="198.51.100.201").status_code == 200
    # A client-written entry in front of the proxy's own is ignored.
    spoofed = "198.51.100.77, 198.51.100.200"
    assert rest_login(api, "lee", PASSWORD, **behind, HTTP_X_FORWARDED_FOR=spoofed).status_code == 429


def test_login_service_refuses_a_locked_username_for_every_caller(rf, make_user):
    from chatproject.errors import Throttled

    make_user("max")
    for _ in range(10):
        assert services.user_login(username="max", password="wrong", request=rf.post(TOKEN)) is None
    with pytest.raises(Throttled) as refused:
        services.user_login(username="max", password=PASSWORD, request=rf.post(TOKEN))
    assert refused.value.wait == 300


def test_an_operator_lifts_a_lock_with_axes_commands(api, make_user):
    from django.core.management import call_command

    make_user("nia")
    for _ in range(10):
        rest_login(api, "nia", "wrong")
    assert rest_login(api, "nia", PASSWORD).status_code == 429
    call_command("axes_reset_username", "Nia")
    assert rest_login(api, "nia", PASSWORD).status_code == 200
    for n in range(30):
        rest_login(api, f"z{n}", "wrong", REMOTE_ADDR="10.3.3.3")
    assert rest_login(api, "nia", PASSWORD, REMOTE_ADDR="10.3.3.3").status_code == 429
    call_command("axes_reset_ip", "10.3.3.3")
    assert rest_login(api, "nia", PASSWORD, REMOTE_ADDR="10.3.3.3").status_code == 200
