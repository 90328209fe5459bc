"""The channel layer over real server processes, real Redis and PostgreSQL.

group_send from outside a request reaches sockets; a process hears only the rooms its
sockets are in; the join race; one client that stops reading never slows the others.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as db
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.testing import ROOT, SERVERS, ServerProcess, database_url_for_tests, free_port
from chatproject.tests.rawws import RawWebSocket
from conftest import needs_services
from messaging import services as messages
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.services]


def server_env(**extra: str) -> dict[str, str]:
    needs_services(postgres=True, redis=True)
    return {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL, **extra}


def metric(server: ServerProcess, name: str) -> float:
    with urllib.request.urlopen(f"{server.http}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def open_ws(server: ServerProcess, user):
    ws = await websockets.connect(
        server.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"}, max_size=None
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws, hello


async def next_of(ws, frame_type: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == frame_type:
                return frame


async def room_with(*users, name="general"):
    room = await db(rooms.room_create)(creator=users[0], name=name, kind="public")
    for user in users[1:]:
        await db(rooms.room_join)(user=user, room_id=room.pk)
    return room


def last_seq(hello: dict, room_id: int) -> int:
    return next(r["last_seq"] for r in hello["rooms"] if r["id"] == room_id)


async def test_group_send_from_a_management_command_and_from_this_process_reaches_sockets(make_user):
    alice = await db(make_user)("alice")
    room = await room_with(alice)
    with ServerProcess(server_env()) as server:
        ws, _ = await open_ws(server, alice)
        # A management command (its own process, no sockets) uses Channels' plain API.
        script = (
            "from asgiref.sync import async_to_sync; from channels.layers import get_channel_layer; "
            f"async_to_sync(get_channel_layer().group_send)('room.{room.pk}', "
            "{'type': 'chat.frame', 'frame': {'type': 'announcement', 'text': 'from a command'}})"
        )
        env = {**os.environ, **server.env}
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True
        )
        assert (await next_of(ws, "announcement"))["text"] == "from a command"

        # And this (test) process: a ready text, sync code via async_to_sync.
        await asyncio.to_thread(
            async_to_sync(get_channel_layer().group_send),
            f"user.{alice.pk}",
            {"type": "chat.frame", "text": json.dumps({"type": "announcement", "text": "to alice"})},
        )
        assert (await next_of(ws, "announcement"))["text"] == "to alice"
        await ws.close()


async def test_the_first_sockets_of_a_fresh_process_all_get_hello_when_they_come_at_once(make_user):
    users = [await db(make_user)(f"u{n}") for n in range(12)]
    room = await room_with(*users)
    with ServerProcess(server_env()) as server:
        opened = await asyncio.gather(*(open_ws(server, user) for user in users))
        assert all(last_seq(hello, room.pk) == 0 for _, hello in opened)
        await asyncio.gather(*(ws.close() for ws, _ in opened))


async def test_without_its_pubsub_redis_a_process_still_serves_its_own_sockets_and_is_not_ready(make_user):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await room_with(alice, bob)
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with ServerProcess(server_env(REALTIME_REDIS_URL=dead)) as server:
        started = time.monotonic()
        alice_ws, _ = await open_ws(server, alice)
        bob_ws, _ = await open_ws(server, bob)
        assert time.monotonic() - started < 15  # hello does not wait for Redis forever
        await alice_ws.send(json.dumps({"type": "message.send", "room": room.pk, "body": "local", "client_id": "l1"}))
        await next_of(alice_ws, "message.ack")
        assert (await next_of(bob_ws, "message.new"))["message"]["body"] == "local"
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(urllib.request.urlopen, f"{server.http}/readyz", timeout=10)
        assert refused.value.code == 503
        await asyncio.gather(alice_ws.close(), bob_ws.close())


async def test_a_process_hears_only_the_rooms_its_sockets_are_in(make_user):
    alice, bob, carol = [await db(make_user)(name) for name in ("alice", "bob", "carol")]
    here = await room_with(alice, bob, name="here")
    there = await room_with(carol, name="there")
    env = server_env()
    with ServerProcess(env) as first, ServerProcess(env) as second:
        alice_ws, _ = await open_ws(first, alice)
        bob_ws, _ = await open_ws(first, bob)
        carol_ws, _ = await open_ws(second, carol)
        await asyncio.sleep(0.5)  # presence of the connects has settled
        heard_before = metric(second, "chat_realtime_events_received_total")
        for n in range(20):
            await alice_ws.send(
                json.dumps({"type": "message.send", "room": here.pk, "body": f"m{n}", "client_id": f"c{n}"})
            )
            await next_of(alice_ws, "message.ack")
            await next_of(bob_ws, "message.new")
        await asyncio.sleep(0.5)
        # Twenty messages of a room with no member on `second`: it read none of them.
        assert metric(second, "chat_realtime_events_received_total") == heard_before

        # A room with members on both: `first` hears carol's message once (two sockets
        # would not make it twice), and `second` never reads its own events back.
        await db(rooms.room_join)(user=alice, room_id=there.pk)
        await next_of(alice_ws, "room.joined")
        await db(rooms.room_join)(user=bob, room_id=there.pk)
        await next_of(bob_ws, "room.joined")
        await asyncio.sleep(0.5)
        first_before = metric(first, "chat_realtime_events_received_total")
        second_before = metric(second, "chat_realtime_events_received_total")
        for n in range(5):
            await carol_ws.send(
                json.dumps({"type": "message.send", "room": there.pk, "body": "hi", "client_id": f"t{n}"})
            )
            await next_of(carol_ws, "message.ack")
            assert (await next_of(alice_ws, "message.new"))["message"]["body"] == "hi"
            assert (await next_of(bob_ws, "message.new"))["message"]["body"] == "hi"
        assert metric(first, "chat_realtime_events_received_total") == first_before + 5
        assert metric(second, "chat_realtime_events_received_total") == second_before
        for ws in (alice_ws, bob_ws, carol_ws):
            await ws.close()


async def test_join_during_traffic_from_another_process_misses_nothing_after_hello(make_user):
    """Each join makes `second` subscribe anew while `first` keeps sending."""
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await room_with(alice, bob)
    env = server_env()
    with ServerProcess(env) as first, ServerProcess(env) as second:
        sender, _ = await open_ws(first, alice)
        stop = asyncio.Event()
        sent: list[int] = []

        async def keep_sending() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                await sender.send(
                    json.dumps({"type": "message.send", "room": room.pk, "body": "b", "client_id": f"k{n}"})
                )
                sent.append((await next_of(sender, "message.ack"))["message"]["seq"])

        task = asyncio.create_task(keep_sending())
        try:
            for _ in range(8):
                ws, hello = await open_ws(second, bob)  # bob is the room's only member there
                told = last_seq(hello, room.pk)
                seen = []
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    frame = await next_of(ws, "message.new")
                    if frame["message"]["seq"] > told:  # older ones may come too; clients skip them
                        seen.append(frame["message"]["seq"])
                # Every message after the seq hello announced arrived live, none skipped.
                assert seen == list(range(told + 1, told + 1 + len(seen))), (told, seen)
                assert seen
                await ws.close()
                await asyncio.sleep(0.05)  # its subscription goes away with it
        finally:
            stop.set()
            await task
        await sender.close()


@pytest.mark.parametrize("server_kind", [*SERVERS, "uvicorn-stock"])
async def test_a_client_that_stops_reading_is_closed_with_4008_and_slows_nobody(make_user, server_kind):
    users = [await db(make_user)(f"user{n}") for n in range(6)]
    sender_user, staller_user, readers_users = users[0], users[1], users[2:]
    room = await room_with(*users)
    with ServerProcess(server_env(), server=server_kind) as server:
        sender, _ = await open_ws(server, sender_user)
        readers = [(await open_ws(server, user))[0] for user in readers_users]
        staller = RawWebSocket(server.port, access_token(staller_user))
        hello = staller.next_json()
        assert hello["type"] == "hello"
        # The staller reads nothing from here on.
        body = "x" * 8000
        received = {id(ws): [] for ws in readers}
        progress = asyncio.Event()

        async def read_all(ws) -> None:
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "message.new":
                    received[id(ws)].append(frame["message"]["seq"])
                    progress.set()

        reading = [asyncio.create_task(read_all(ws)) for ws in readers]
        acked: list[int] = []
        started = time.monotonic()
        for n in range(3000):
            await sender.send(json.dumps({"type": "message.send", "room": room.pk, "body": body, "client_id": f"s{n}"}))
            acked.append((await next_of(sender, "message.ack"))["message"]["seq"])
            if n % 25 == 0 and metric(server, "chat_slow_disconnects_total") >= 1:
                break
        assert metric(server, "chat_slow_disconnects_total") == 1
        # The others got every message, promptly: nobody waited for the staller.
        async with asyncio.timeout(10):
            while any(len(seqs) < len(acked) for seqs in received.values()):
                progress.clear()
                await progress.wait()
        assert all(seqs == acked for seqs in received.values())
        assert time.monotonic() - started < 60

        # It reads again (within the 10 s): what was queued, then the 4008.
        frames, code = await asyncio.to_thread(staller.read_until_close, 10)
        assert code == 4008
        staller.close()
        seen = [f["message"]["seq"] for f in frames if f["type"] == "message.new"]
        assert seen == acked[: len(seen)]  # in order, nothing skipped before the close
        assert len(seen) < len(acked)

        # It reconnects and syncs from the last seq it saw: nothing is lost.
        back, _ = await open_ws(server, staller_user)
        after, recovered = (seen[-1] if seen else 0), []
        while True:
            await back.send(json.dumps({"type": "sync", "room": room.pk, "after": after}))
            page = await next_of(back, "sync")
            recovered += [m["seq"] for m in page["messages"]]
            if not page["has_more"]:
                break
            after = recovered[-1]
        assert seen + recovered == acked
        for task in reading:
            task.cancel()
        for ws in (sender, back, *readers):
            await ws.close()


@pytest.mark.parametrize("server_kind", SERVERS)
async def test_frames_from_the_server_may_be_bigger_than_the_64_kib_limit_on_client_frames(make_user, server_kind):
    # 64 KiB is the contract's limit on what a client sends; a sync page of long messages
    # (200 of them by default) is far bigger and must arrive whole, on every server.
    user = await db(make_user)("reader")
    room = await room_with(user)

    def fill() -> None:
        for n in range(12):
            messages.message_send(sender=user, room_id=room.pk, body=f"{n} " + "x" * 8000, client_id=f"long{n}")

    await db(fill)()
    with ServerProcess(server_env(MESSAGE_MAX_LENGTH="10000"), server=server_kind) as server:
        ws, _ = await open_ws(server, user)
        await ws.send(json.dumps({"type": "sync", "room": room.pk, "after": 0}))
        page = await next_of(ws, "sync")
        assert [m["seq"] for m in page["messages"]] == list(range(1, 13))
        await ws.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws, "pong"))["type"] == "pong"  # and the socket goes on
        await ws.close()


@pytest.mark.parametrize("server_kind", SERVERS)
async def test_the_servers_decline_per_message_deflate_that_clients_offer(make_user, server_kind):
    # Browsers always offer it; accepted, it costs a zlib context per socket (135 KiB of
    # server memory per idle socket instead of 37) and compressing every frame per socket.
    user = await db(make_user)("offerer")
    with ServerProcess(server_env(), server=server_kind) as server:
        ws = await websockets.connect(
            server.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"}, compression="deflate"
        )
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.close()
