"""The limiter itself: sliding windows in Redis (shared) or in this process (embedded default)."""

import asyncio
import socket
import time

import pytest
import yaml
from django.test import Client
from prometheus_client import REGISTRY

from chatproject import ratelimits
from chatproject.errors import Throttled
from conftest import needs_services

pytestmark = pytest.mark.rate_limits


def refused(scope: str, key: str) -> Throttled | None:
    try:
        ratelimits.enforce(scope, key)
    except Throttled as exc:
        return exc
    return None


@pytest.fixture(params=["redis", "memory"])
def backend(request, settings):
    if request.param == "redis":
        needs_services(redis=True)
    else:
        settings.REDIS_URL = ""
    return request.param


def test_the_contract_send_window_lets_a_burst_pass_and_refuses_the_31st(backend):
    key = f"user-{backend}"
    assert [refused("send", key) for _ in range(30)] == [None] * 30
    exc = refused("send", key)
    assert exc is not None and exc.code == "throttled" and 1 <= exc.wait <= 10
    # Keys and scopes are counted apart.
    assert refused("send", f"{key}-other") is None
    assert refused("search", key) is None


def test_the_window_slides(backend, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": (3, 1)}
    assert [refused("search", "k") is None for _ in range(3)] == [True] * 3
    assert refused("search", "k") is not None
    time.sleep(1.1)
    assert refused("search", "k") is None


def test_refusals_are_counted_by_scope(backend):
    before = REGISTRY.get_sample_value("chat_throttled_total", {"scope": "room_create"}) or 0
    for _ in range(12):
        refused("room_create", "counted")
    assert REGISTRY.get_sample_value("chat_throttled_total", {"scope": "room_create"}) == before + 2


def test_off_and_disabled(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": None}
    assert all(refused("search", "free") is None for _ in range(100))
    settings.THROTTLE_DISABLED = True
    assert all(refused("send", "free") is None for _ in range(100))


def test_an_unreachable_redis_lets_requests_through(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    assert all(refused("send", "outage") is None for _ in range(40))


@pytest.mark.django_db
def test_web_signup_shows_the_limit_on_the_form(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "register": (1, 3600)}
    client = Client()
    form = {"username": "first", "email": "first@example.com", "password": "correct-horse-battery-9"}
    assert client.post("/accounts/signup/", form).status_code == 302
    second = Client().post(
        "/accounts/signup/", {**form, "username": "second", "email": "second@example.com"}, REMOTE_ADDR="127.0.0.1"
    )
    assert second.status_code == 200
    assert "Too many accounts registered from this address" in second.content.decode()


@pytest.mark.django_db
def test_openapi_lists_429_with_retry_after_on_every_limited_endpoint():
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    limited = [
        ("/api/v1/auth/register/", "post"),
        ("/api/v1/auth/token/", "post"),
        ("/api/v1/rooms/", "post"),
        ("/api/v1/dms/", "post"),
        ("/api/v1/rooms/{room_id}/messages/", "post"),
        ("/api/v1/search/messages/", "get"),
        ("/api/v1/attachments/", "post"),
    ]
    for path, method in limited:
        answer = schema["paths"][path][method]["responses"]["429"]
        assert "Retry-After" in answer["headers"], path
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ThrottledError")


async def test_the_socket_cap_counts_open_sockets_and_frees_closed_ones(backend, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 2
    user_id = 1000 + len(backend)
    assert await ratelimits.connection_open(user_id=user_id, conn_id=f"{backend}-a")
    assert await ratelimits.connection_open(user_id=user_id, conn_id=f"{backend}-b")
    assert not await ratelimits.connection_open(user_id=user_id, conn_id=f"{backend}-c")
    assert await ratelimits.connection_open(user_id=user_id + 1, conn_id=f"{backend}-d")  # someone else
    await ratelimits.connection_close(conn_id=f"{backend}-a")
    assert await ratelimits.connection_open(user_id=user_id, conn_id=f"{backend}-c")
    for conn in ("b", "c", "d"):
        await ratelimits.connection_close(conn_id=f"{backend}-{conn}")


async def test_sockets_of_a_process_that_died_stop_counting(settings):
    needs_services(redis=True)
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    settings.WS_CONNECTION_TTL_SECONDS = 2
    assert await ratelimits.connection_open(user_id=77, conn_id="dead-process.1")
    ratelimits._connections.local.clear()  # the process is gone: nobody renews or removes its entry
    assert not await ratelimits.connection_open(user_id=77, conn_id="live.1")
    await asyncio.sleep(2.3)
    assert await ratelimits.connection_open(user_id=77, conn_id="live.1")
    # A live process renews its own entries, so they outlast the TTL.
    for _ in range(2):  # 2.4 s: past the TTL, but never more than 1.2 s since a renewal
        await asyncio.sleep(1.2)
        await asyncio.to_thread(ratelimits._connections.renew)
    assert not await ratelimits.connection_open(user_id=77, conn_id="live.2")
    await ratelimits.connection_close(conn_id="live.1")


@pytest.mark.django_db
def test_web_room_creation_shows_the_limit_on_the_form(settings, client, make_user):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "room_create": (1, 60)}
    client.force_login(make_user("builder"))
    assert client.post("/rooms/new/", {"name": "one", "kind": "public"}).status_code == 302
    again = client.post("/rooms/new/", {"name": "two", "kind": "public"})
    assert again.status_code == 200
    assert "creating rooms too fast" in again.content.decode()


@pytest.mark.django_db
def test_uploads_are_limited_per_user(settings, api, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging.models import Attachment

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "upload": (2, 60)}
    uploader = make_user("uploader")
    client = api.as_user(uploader)

    def upload(n: int):
        return client.post("/api/v1/attachments/", {"file": SimpleUploadedFile(f"n{n}.txt", b"notes\n")})

    assert [upload(n).status_code for n in range(2)] == [201, 201]
    refused = upload(3)
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Attachment.objects.filter(uploader=uploader).count() == 2
