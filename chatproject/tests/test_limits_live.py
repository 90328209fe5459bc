"""Rate limits and close codes through real servers: one daphne and one uvicorn process sharing
PostgreSQL and Redis, so every limit is shown to hold across processes and server kinds."""

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts import services as accounts
from accounts.tests.factories import access_token
from chatproject.testing import SERVERS, ServerProcess, database_url_for_tests
from conftest import needs_services
from messaging.models import Message
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

LIMITS = {
    "THROTTLE_DISABLED": "0",
    # The send limit keeps its default (the contract's: a burst of 20 passes, 31 in 10 s do not).
    "RATE_LIMIT_REGISTER": "3/60",
    "RATE_LIMIT_ROOM_CREATE": "3/60",
    "RATE_LIMIT_DM_CREATE": "2/60",
    "RATE_LIMIT_SEARCH": "4/60",
    "RATE_LIMIT_WS_FRAME": "10/60",
    "WS_MAX_CONNECTIONS_PER_USER": "3",
    "WS_AUTH_TIMEOUT_SECONDS": "2",
    # Cheap Argon2, the same in the test process (which hashes) and the servers (which verify).
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "1024",
    "ARGON2_PARALLELISM": "1",
}


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker, tmp_path_factory):
    needs_services(postgres=True, redis=True)
    with django_db_blocker.unblock():
        env = {**LIMITS, "DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL}
    logs = tmp_path_factory.mktemp("servers")
    started = [ServerProcess(env, server=kind, log=logs / f"{kind}.log") for kind in SERVERS]
    try:
        for server in started:
            server.start()
        yield dict(zip(SERVERS, started, strict=True))
    finally:
        for server in started:
            server.stop()


def call(server: ServerProcess, method: str, path: str, body=None, user=None, headers=None):
    """One REST request: (status, headers, decoded JSON body or None)."""
    request = urllib.request.Request(
        server.http + path, method=method, data=None if body is None else json.dumps(body).encode()
    )
    request.add_header("Content-Type", "application/json")
    if user is not None:
        request.add_header("Authorization", f"Bearer {access_token(user)}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw, status, answer_headers = response.read(), response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, error.headers
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = raw.decode(errors="replace")
    return status, answer_headers, data


def throttled_metric(server: ServerProcess, scope: str) -> float:
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf'^chat_throttled_total\{{scope="{scope}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def assert_throttled(status, headers, data, *, most: int) -> None:
    assert status == 429, (status, data)
    assert data["code"] == "throttled" and data["detail"]
    assert 1 <= int(headers["Retry-After"]) <= most


async def open_ws(server: ServerProcess, user):
    ws = await websockets.connect(server.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello", hello
    return ws


async def next_of(ws, frame_type: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == frame_type:
                return frame


async def close_code(ws, timeout: float = 10) -> int:
    """Waits for the server to close the socket; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006


async def still_open(ws) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    return (await next_of(ws, "pong"))["type"] == "pong"


# --- message sends: per user, REST and WebSocket together, every process --------------------
@pytest.mark.asyncio
async def test_a_burst_of_sends_passes_and_a_flood_is_refused_storing_nothing(servers, make_user):
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    alice = await db(make_user)("alice")
    room = await db(rooms.room_create)(creator=alice, name="busy", kind="public")
    ws = await open_ws(daphne, alice)
    started = time.monotonic()
    before = throttled_metric(uvicorn, "send") + throttled_metric(daphne, "send")

    # Typing fast and pasting: 20 messages within a second or so, all acked.
    for n in range(20):
        await ws.send(json.dumps({"type": "message.send", "room": room.pk, "body": f"fast {n}", "client_id": f"b{n}"}))
    acks = [await next_of(ws, "message.ack") for _ in range(20)]
    assert [ack["client_id"] for ack in acks] == [f"b{n}" for n in range(20)]
    # Ten more by REST through the other process: 30 within 10 seconds still pass.
    for n in range(10):
        status, _, data = await asyncio.to_thread(
            call,
            uvicorn,
            "POST",
            f"/api/v1/rooms/{room.pk}/messages/",
            {"body": f"rest {n}", "client_id": f"r{n}"},
            alice,
        )
        assert status == 201, data
    assert time.monotonic() - started < 9, "too slow to test the 10-second window"

    # The 31st within 10 seconds is refused, by either door, on either process.
    status, headers, data = await asyncio.to_thread(
        call, uvicorn, "POST", f"/api/v1/rooms/{room.pk}/messages/", {"body": "flood", "client_id": "f1"}, alice
    )
    assert_throttled(status, headers, data, most=10)
    await ws.send(json.dumps({"type": "message.send", "room": room.pk, "body": "flood", "client_id": "f2"}))
    error = await next_of(ws, "error")
    assert error["code"] == "throttled" and error["ref"] == "f2"
    assert isinstance(error["retry_after"], int) and 1 <= error["retry_after"] <= 10
    assert await still_open(ws)

    # Nothing of the refused sends was stored; the 30 that passed were.
    assert await db(Message.objects.filter(room=room).count)() == 30
    assert not await db(Message.objects.filter(client_id__in=["f1", "f2"]).exists)()
    after = throttled_metric(uvicorn, "send") + throttled_metric(daphne, "send")
    assert after == before + 2

    # Once the window has moved on, sending works again.
    await asyncio.sleep(error["retry_after"] + 0.5)
    await ws.send(json.dumps({"type": "message.send", "room": room.pk, "body": "later", "client_id": "ok1"}))
    assert (await next_of(ws, "message.ack"))["client_id"] == "ok1"
    await ws.close()


# --- registration per address; rooms, DMs and search per user ----------------------------------
def register(server, n: str, headers=None):
    body = {"username": f"new{n}", "email": f"new{n}@example.com", "password": "correct-horse-battery-9"}
    return call(server, "POST", "/api/v1/auth/register/", body, headers=headers)


def test_registration_is_limited_per_address_across_processes(servers):
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    tag = uuid.uuid4().hex[:6]
    assert [register(s, f"{tag}{n}")[0] for n, s in enumerate([daphne, uvicorn, daphne])] == [201] * 3
    assert_throttled(*register(uvicorn, f"{tag}x"), most=60)
    # A forwarded address from an untrusted peer does not open a fresh allowance, on either server.
    for server in (daphne, uvicorn):
        assert_throttled(*register(server, f"{tag}y", headers={"X-Forwarded-For": "198.51.100.7"}), most=60)


def test_room_creation_direct_conversations_and_search_are_limited_per_user(servers, make_user):
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    owner, other = make_user("owner"), make_user("other")
    answers = [
        call(s, "POST", "/api/v1/rooms/", {"name": f"r{n}", "kind": "public"}, owner)[0]
        for n, s in enumerate([daphne, uvicorn, daphne])
    ]
    assert answers == [201] * 3
    assert_throttled(*call(uvicorn, "POST", "/api/v1/rooms/", {"name": "r4", "kind": "public"}, owner), most=60)
    # Someone else is not held back by the owner's rooms.
    assert call(daphne, "POST", "/api/v1/rooms/", {"name": "theirs", "kind": "public"}, other)[0] == 201

    people = [make_user(f"friend{n}") for n in range(3)]
    assert call(daphne, "POST", "/api/v1/dms/", {"user_ids": [people[0].pk]}, owner)[0] == 201
    assert call(uvicorn, "POST", "/api/v1/dms/", {"user_ids": [people[1].pk]}, owner)[0] == 201
    assert_throttled(*call(daphne, "POST", "/api/v1/dms/", {"user_ids": [people[2].pk]}, owner), most=60)
    # Opening a conversation that exists creates nothing and is never refused.
    assert call(uvicorn, "POST", "/api/v1/dms/", {"user_ids": [people[0].pk]}, owner)[0] == 200

    searches = [call(s, "GET", "/api/v1/search/messages/?q=hello", None, owner)[0] for s in [daphne, uvicorn] * 2]
    assert searches == [200] * 4
    assert_throttled(*call(uvicorn, "GET", "/api/v1/search/messages/?q=hello", None, owner), most=60)
    # Health checks and metrics are never limited.
    for server in (daphne, uvicorn):
        for path in ["/healthz"] * 20 + ["/metrics"] * 5:
            with urllib.request.urlopen(server.http + path, timeout=10) as response:
                assert response.status == 200
    assert throttled_metric(daphne, "room_create") + throttled_metric(uvicorn, "room_create") >= 1


# --- other frames per connection ---------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_other_frames_are_limited_per_connection(servers, make_user, kind):
    server = servers[kind]
    user = await db(make_user)(f"chatty-{kind}")
    room = await db(rooms.room_create)(creator=user, name="r", kind="public")
    ws, other = await open_ws(server, user), await open_ws(server, user)
    for _ in range(5):
        await ws.send(json.dumps({"type": "typing", "room": room.pk, "state": "start"}))
        await ws.send(json.dumps({"type": "ping"}))
    for _ in range(5):
        await next_of(ws, "pong")
    await ws.send(json.dumps({"type": "presence", "status": "away", "client_id": "p1"}))
    error = await next_of(ws, "error")
    assert error["code"] == "throttled" and error["ref"] == "p1" and 1 <= error["retry_after"] <= 60
    # Sends have their own limit; the user's other connection its own frame allowance.
    await ws.send(json.dumps({"type": "message.send", "room": room.pk, "body": "still here", "client_id": "s1"}))
    assert (await next_of(ws, "message.ack"))["client_id"] == "s1"
    assert await still_open(other)
    assert throttled_metric(server, "ws_frame") >= 1
    await ws.close()
    await other.close()


# --- sockets per user: 4429 -------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_one_socket_over_the_cap_is_closed_4429_counting_every_process(servers, make_user, kind):
    user = await db(make_user)(f"many-devices-{kind}")
    here, there = servers[kind], servers["uvicorn" if kind == "daphne" else "daphne"]
    sockets = [await open_ws(here, user), await open_ws(there, user), await open_ws(here, user)]
    extra = await websockets.connect(here.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})
    assert await close_code(extra) == 4429
    assert throttled_metric(here, "ws_connections") >= 1
    for ws in sockets:
        assert await still_open(ws)
    # A device that goes away frees its place, wherever it was.
    await sockets[1].close()
    await asyncio.sleep(0.5)
    sockets[1] = await open_ws(here, user)
    for ws in sockets:
        await ws.close()


# --- close codes -------------------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_a_frame_over_64_kib_closes_1009(servers, make_user, kind):
    user = await db(make_user)(f"big-{kind}")
    ws = await open_ws(servers[kind], user)
    await ws.send("x" * 65536)  # exactly the limit: refused as bad JSON, the socket stays
    assert (await next_of(ws, "error"))["code"] == "invalid"
    await ws.send(json.dumps({"type": "ping", "pad": "x" * 65536}))
    assert await close_code(ws) == 1009
    # The server goes on serving.
    again = await open_ws(servers[kind], user)
    assert await still_open(again)
    await again.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_a_frame_over_64_kib_closes_1009_with_more_frames_behind_it(servers, make_user, kind):
    # A client that goes on sending: its next frames are still unread when the server fails
    # the connection. Closing the socket then would reset it and lose the close frame (1006).
    user = await db(make_user)(f"bigpipe-{kind}")
    codes = []
    for _ in range(5):
        ws = await open_ws(servers[kind], user)
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
        for _ in range(20):
            try:
                await ws.send(json.dumps({"type": "ping"}))
            except websockets.ConnectionClosed:
                break
        codes.append(await close_code(ws))
    assert codes == [1009] * 5


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_no_or_bad_credentials_close_4401(servers, make_user, kind):
    server = servers[kind]
    user = await db(make_user)(f"cred-{kind}")
    bad = await websockets.connect(server.ws, additional_headers={"Authorization": "Bearer not-a-token"})
    assert await close_code(bad) == 4401
    silent = await websockets.connect(server.ws)  # never sends its auth frame (WS_AUTH_TIMEOUT_SECONDS=2)
    assert await close_code(silent) == 4401
    rude = await websockets.connect(server.ws)
    await rude.send(json.dumps({"type": "ping"}))  # anything but auth first
    assert await close_code(rude) == 4401
    wrong = await websockets.connect(server.ws)
    await wrong.send(json.dumps({"type": "auth", "token": access_token(user) + "x"}))
    assert await close_code(wrong) == 4401
    good = await websockets.connect(server.ws)
    await good.send(json.dumps({"type": "auth", "token": access_token(user)}))
    assert (await next_of(good, "hello"))["user"]["id"] == user.pk
    await good.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", SERVERS)
async def test_deactivation_closes_every_socket_4403(servers, make_user, kind):
    user = await db(make_user)(f"banned-{kind}")
    here, there = servers[kind], servers["uvicorn" if kind == "daphne" else "daphne"]
    sockets = [await open_ws(here, user), await open_ws(there, user)]
    started = time.monotonic()
    await db(accounts.user_set_active)(user=user, is_active=False)
    assert [await close_code(ws, timeout=5) for ws in sockets] == [4403, 4403]
    assert time.monotonic() - started < 5
    # And the token no longer opens a socket.
    refused = await websockets.connect(here.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})
    assert await close_code(refused) == 4401


# --- failed logins, shared by the processes ---------------------------------------------------
@pytest.mark.real_hashers
def test_failed_logins_lock_a_username_on_every_process_and_correct_ones_never_count(servers, make_user, settings):
    settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_KIB, settings.ARGON2_PARALLELISM = 1, 1024, 1
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    make_user("target")
    people = [make_user(f"office{n}") for n in range(20)]

    def login(server, username, password):
        return call(server, "POST", "/api/v1/auth/token/", {"username": username, "password": password})

    # Forty correct logins from one address, through both processes: all pass.
    correct = [login(s, p.username, "correct-horse-battery-9")[0] for p in people for s in (daphne, uvicorn)]
    assert correct == [200] * 40
    # Ten failures spread over both processes lock the username on both.
    assert [login((daphne, uvicorn)[n % 2], "target", "wrong")[0] for n in range(10)] == [401] * 10
    for server in (daphne, uvicorn):
        status, headers, data = login(server, "target", "correct-horse-battery-9")
        assert_throttled(status, headers, data, most=300)
    assert throttled_metric(daphne, "login") + throttled_metric(uvicorn, "login") == 2
