import time

import pytest
from django.contrib.auth.hashers import make_password
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"


def register(api, **overrides):
    data = {"username": "alice", "email": "alice@example.com", "password": PASSWORD, "display_name": "Alice"}
    data.update(overrides)
    return api.post(REGISTER, data, format="json")


@pytest.mark.real_hashers
def test_register_creates_user_with_argon2_hash(api):
    response = register(api)
    assert response.status_code == 201
    assert response.json()["username"] == "alice"
    assert "password" not in response.json()
    user = User.objects.get(username="alice")
    assert user.password.startswith("argon2$argon2id$")
    assert user.display_name == "Alice"


@pytest.mark.parametrize(
    "field,value",
    [("username", "ALICE"), ("email", "Alice@Example.com")],
)
def test_register_duplicate_names_the_field(api, make_user, field, value):
    make_user("alice", email="alice@example.com")
    response = register(api, **{"username": "bob", "email": "bob@example.com", field: value})
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_register_weak_password_is_refused(api):
    response = register(api, password="12345678")
    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.exists()


def test_register_missing_fields(api):
    response = api.post(REGISTER, {"username": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"email", "password"}


def test_bcrypt_user_can_log_in_and_is_rehashed(api):
    user = User.objects.create(username="legacy", email="legacy@example.com")
    User.objects.filter(pk=user.pk).update(password=make_password(PASSWORD, hasher="bcrypt_sha256"))
    response = api.post(TOKEN, {"username": "legacy", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    assert {"access", "refresh"} <= set(response.json())


def test_token_obtain_refresh_rotates(api, make_user):
    make_user("carol")
    pair = api.post(TOKEN, {"username": "carol", "password": PASSWORD}, format="json").json()
    rotated = api.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != pair["refresh"]
    again = api.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["code"] == "not_authenticated"
    me = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {rotated.json()['access']}")
    assert me.status_code == 200 and me.json()["username"] == "carol"


def test_wrong_password_is_401(api, make_user):
    make_user("dave")
    response = api.post(TOKEN, {"username": "dave", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_logout_revokes_refresh_token(api, make_user):
    make_user("erin")
    pair = api.post(TOKEN, {"username": "erin", "password": PASSWORD}, format="json").json()
    assert api.post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code == 205
    response = api.post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401


def test_expired_and_forged_tokens_are_401(api, make_user):
    user = make_user("frank")
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-__import__("datetime").timedelta(seconds=1))
    forged = str(AccessToken.for_user(user))[:-4] + "abcd"
    for token in (str(expired), forged, "not-a-token"):
        response = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"


def test_anonymous_is_401_with_code(api):
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": response.json()["detail"], "code": "not_authenticated"}


def test_inactive_user_cannot_get_or_use_tokens(api, make_user):
    user = make_user("banned")
    pair = api.post(TOKEN, {"username": "banned", "password": PASSWORD}, format="json").json()
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert api.post(TOKEN, {"username": "banned", "password": PASSWORD}, format="json").status_code == 401
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}").status_code == 401
    assert api.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_me_patch_changes_display_name_only(api, make_user):
    user = make_user("ivy")
    response = api.as_user(user).patch("/api/v1/me/", {"display_name": "Ivy V", "username": "x"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ivy V"
    user.refresh_from_db()
    assert (user.username, user.display_name) == ("ivy", "Ivy V")


def test_user_directory_search(api, make_user):
    me = make_user("jack")
    make_user("jill", display_name="Jill Hill")
    make_user("kate")
    make_user("jolly", is_active=False)
    response = api.as_user(me).get("/api/v1/users/", {"search": "j"})
    assert response.status_code == 200
    assert [u["username"] for u in response.json()] == ["jill"]
    assert response.json()[0] == {"id": response.json()[0]["id"], "username": "jill", "display_name": "Jill Hill"}


def test_access_token_lifetime_is_short(api, make_user):
    make_user("lena")
    pair = api.post(TOKEN, {"username": "lena", "password": PASSWORD}, format="json").json()
    token = AccessToken(pair["access"])
    assert token["exp"] - time.time() <= 60 * 60


def test_the_api_reads_json_bodies_only(api, make_user):
    # A form carries no types (every value a string); the contract's API speaks JSON.
    response = api.post(REGISTER, {"username": "form", "email": "form@example.com", "password": PASSWORD})
    assert response.status_code == 415 and response.json()["code"] == "invalid"
    me = api.as_user(make_user("lena")).patch("/api/v1/me/", {"display_name": "Lena"})
    assert me.status_code == 415


def test_json_values_of_the_wrong_type_are_refused_not_coerced(api, make_user):
    client = api.as_user(make_user("lena"))
    response = client.patch("/api/v1/me/", {"display_name": 0}, format="json")
    assert response.status_code == 400 and response.json() == {"display_name": ["Must be text."]}
    assert client.post(LOGOUT, {"all": "yes"}, format="json").json() == {"all": ["Must be true or false."]}
    assert client.patch("/api/v1/me/", {"display_name": "Lena"}, format="json").json()["display_name"] == "Lena"


def test_directory_search_with_a_nul_character_is_no_server_error(api, make_user):
    make_user("lena")
    response = api.as_user(make_user("max")).get("/api/v1/users/", {"search": "le\x00"})
    assert response.status_code == 200  # PostgreSQL refuses NUL in a query: it was a 500
