import itertools

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User

PASSWORD = "correct-horse-battery-9"
_numbers = itertools.count(1)


def create_user(username: str | None = None, *, password: str = PASSWORD, **fields) -> User:
    n = next(_numbers)
    username = username or f"user{n}"
    fields.setdefault("email", f"{username}@example.com")
    user = User(username=username, **fields)
    user.set_password(password)
    user.save()
    return user


def access_token(user: User) -> str:
    # An access token alone needs no database row (unlike a refresh token), so async tests can mint it.
    return str(AccessToken.for_user(user))


class ApiClient(APIClient):
    def as_user(self, user: User | None) -> "ApiClient":
        if user is None:
            self.credentials()
        else:
            self.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token(user)}")
        return self
