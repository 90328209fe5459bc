"""SIGTERM on a real server process (daphne and uvicorn): sockets close with 1012, sends in flight finish."""

import asyncio
import json
import signal
import time

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.closecodes import SERVICE_RESTART
from chatproject.testing import SERVERS, ServerProcess, database_url_for_tests
from conftest import needs_services
from messaging.models import Message
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.mark.parametrize("server", SERVERS)
async def test_sigterm_finishes_started_sends_then_closes_every_socket_with_1012(server, make_user, tmp_path):
    needs_services(postgres=True, redis=True)
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await db(rooms.room_create)(creator=alice, name="general", kind="public")
    await db(rooms.room_join)(user=bob, room_id=room.pk)
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    process = ServerProcess(env, server=server, log=tmp_path / "server.log").start()
    try:
        sockets = []
        for user in (alice, bob, bob):
            ws = await websockets.connect(
                process.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"}
            )
            assert json.loads(await ws.recv())["type"] == "hello"
            sockets.append(ws)
        sender = sockets[0]
        # A burst of sends, and SIGTERM while they are on their way or being stored.
        for n in range(20):
            await sender.send(
                json.dumps({"type": "message.send", "room": room.pk, "body": f"m{n}", "client_id": f"c{n}"})
            )
        acked = set()
        while not acked:  # sends are flowing
            frame = json.loads(await asyncio.wait_for(sender.recv(), 10))
            if frame["type"] == "message.ack":
                acked.add(frame["client_id"])
        process.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        with pytest.raises(websockets.ConnectionClosed):
            while True:
                frame = json.loads(await asyncio.wait_for(sender.recv(), 10))
                if frame["type"] == "message.ack":
                    acked.add(frame["client_id"])
        assert sender.close_code == SERVICE_RESTART
        for ws in sockets[1:]:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == SERVICE_RESTART
        exit_code = await asyncio.to_thread(process.process.wait, 15)
        assert time.monotonic() - signalled < 5 + 5, "the drain is bounded by SHUTDOWN_GRACE_SECONDS"
        assert exit_code in (0, -signal.SIGTERM, 128 + signal.SIGTERM, 1)

        # What was stored was acked: a send the server started, it finished. The rest was
        # never started, and the client resends it after reconnecting (same client_id).
        stored = await db(lambda: set(Message.objects.filter(room=room).values_list("client_id", flat=True)))()
        assert stored == acked
        log = (tmp_path / "server.log").read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        process.stop()
