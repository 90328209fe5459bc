"""Fixtures shared by every app's tests."""

import os

import pytest
from django.conf import settings
from django.core.cache import cache

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def needs_services(*, postgres: bool = False, redis: bool = False) -> None:
    """Skips (or, with REQUIRE_SERVICES=1, fails) a test whose services are not configured."""
    missing = []
    if postgres and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing.append("PostgreSQL (set DATABASE_URL=postgres://...)")
    if redis and not settings.REDIS_URL:
        missing.append("Redis (set REDIS_URL=redis://...)")
    if not missing:
        return
    reason = "needs " + " and ".join(missing)
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but this test {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_cache():
    from chatproject import ratelimits

    # Redis windows (and lock-out counts) go with the cache's database; in-process ones here.
    cache.clear()
    ratelimits.reset_memory()
    yield
    cache.clear()
    ratelimits.reset_memory()


@pytest.fixture(autouse=True)
def _fast_hashers(settings, request):
    # Argon2 on purpose is slow; tests that check hashing opt out with the `real_hashers` marker.
    if "real_hashers" not in request.keywords:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture(autouse=True)
def _rate_limits_off(settings, request):
    # Like the test servers (ServerProcess), tests run without rate limits unless they test
    # them (the `rate_limits` marker): factories create rooms and messages by the dozen.
    # Login lock-outs stay on everywhere: only failures count, so they never get in the way.
    if "rate_limits" not in request.keywords:
        settings.THROTTLE_DISABLED = True


def pytest_configure(config):
    config.addinivalue_line("markers", "real_hashers: use the production password hashers")


@pytest.fixture
def make_user(db):
    from accounts.tests.factories import create_user

    return create_user


@pytest.fixture
def api():
    from accounts.tests.factories import ApiClient

    return ApiClient()


@pytest.fixture
def moderator(client, make_user):
    """A site moderator, logged in with the `client` fixture (the admin tests' user)."""
    from testsupport.factories import make_moderator

    user = make_moderator(make_user("mod"))
    client.force_login(user)
    return user
