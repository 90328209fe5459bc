import pytest
from django.test import Client

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_signup_logs_in_and_lands_home():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {"username": "alice", "email": "alice@example.com", "password": PASSWORD, "display_name": "Alice"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Alice" in home.content.decode()
    assert User.objects.filter(username="alice").exists()


def test_signup_shows_service_errors_on_the_form(make_user):
    make_user("alice")
    response = Client().post("/accounts/signup/", {"username": "alice", "email": "new@example.com", "password": "123"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "already exists" in body
    assert "too short" in body


def test_login_and_logout(make_user):
    make_user("bob")
    client = Client()
    assert client.get("/").status_code == 302
    response = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_login_wrong_password_and_inactive_user(make_user):
    make_user("carl")
    make_user("gone", is_active=False)
    client = Client()
    for username, password in (("carl", "wrong"), ("gone", PASSWORD)):
        response = client.post("/accounts/login/", {"username": username, "password": password})
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()


def test_csrf_is_enforced(make_user):
    make_user("eve")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "eve", "password": PASSWORD})
    assert response.status_code == 403
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    response = client.post("/accounts/login/", {"username": "eve", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_session_api_calls_need_csrf(make_user):
    make_user("fay")
    client = Client(enforce_csrf_checks=True)
    client.login(username="fay", password=PASSWORD)
    assert client.get("/api/v1/me/").status_code == 200
    response = client.patch("/api/v1/me/", {"display_name": "F"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
