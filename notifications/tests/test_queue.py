"""Notification fan-out to large rooms on the task queue, run by the real worker process."""

import asyncio
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings
from django_tasks_db.models import DBTaskResult

from accounts.tests.factories import access_token
from chatproject.testing import ServerProcess, WorkerProcess, database_url_for_tests
from conftest import needs_services
from messaging import services as messaging
from notifications.models import Notification
from testsupport.factories import create_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def large_room(make_user, settings):
    needs_services(postgres=True)
    settings.NOTIFY_ON_QUEUE_MIN_MEMBERS = 3
    alice, bob, carol, dan = (make_user(name) for name in ("alice", "bob", "carol", "dan"))
    return alice, bob, carol, create_room(alice, name="town-hall", members=[bob, carol, dan])


def test_large_room_mentions_are_made_by_the_worker_not_the_send(large_room, tmp_path):
    alice, _, _, room = large_room
    sent = messaging.message_send(sender=alice, room_id=room.pk, body="@bob and @carol: the plan").message
    # The send returned without making them: one task waits in the queue for this message.
    assert Notification.objects.count() == 0
    task = DBTaskResult.objects.get()
    assert task.task_path == "notifications.tasks.notify_for_message_later"
    assert task.args_kwargs["args"] == [sent.pk]

    with WorkerProcess({"DATABASE_URL": database_url_for_tests()}, log=tmp_path / "worker.log"):
        wait_for(lambda: Notification.objects.count() == 2)
    assert sorted(Notification.objects.values_list("recipient__username", "kind", "message_id")) == [
        ("bob", "mention", sent.pk),
        ("carol", "mention", sent.pk),
    ]
    task.refresh_from_db()
    assert task.status == "SUCCESSFUL" and task.return_value == 2


def test_small_rooms_still_notify_in_the_send_and_a_failed_send_enqueues_nothing(large_room, make_user):
    alice, bob, _, room = large_room
    small = create_room(alice, name="pair", members=[bob])
    messaging.message_send(sender=alice, room_id=small.pk, body="@bob quick one")
    assert Notification.objects.filter(recipient=bob).count() == 1
    with pytest.raises(Exception):  # noqa: B017 (any failure: too long)
        messaging.message_send(sender=alice, room_id=room.pk, body="@bob " + "x" * settings.MESSAGE_MAX_LENGTH)
    assert not DBTaskResult.objects.exists()


def test_a_member_hears_the_notification_live_from_the_worker(large_room, tmp_path):
    needs_services(postgres=True, redis=True)
    alice, bob, _, room = large_room
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "NOTIFY_ON_QUEUE_MIN_MEMBERS": "3",
    }

    async def scenario(server: ServerProcess) -> tuple[dict, dict]:
        headers = {"Authorization": f"Bearer {access_token(bob)}"}
        async with websockets.connect(server.ws, additional_headers=headers) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
            await db(messaging.message_send)(sender=alice, room_id=room.pk, body="@bob see the agenda")
            new = notification = None
            async with asyncio.timeout(30):
                while notification is None:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "message.new":
                        new = frame
                    if frame["type"] == "notification":
                        notification = frame
            return new, notification

    with (
        ServerProcess(env, log=tmp_path / "server.log") as server,
        WorkerProcess(env, log=tmp_path / "worker.log"),
    ):
        new, notification = asyncio.run(scenario(server))
    # The message came first (the send did not wait); the worker's notification followed.
    assert new is not None
    assert notification["notification"]["message"] == new["message"]["id"]
    assert notification["notification"]["kind"] == "mention"


def test_without_redis_the_server_process_runs_the_queue_itself(large_room, tmp_path):
    alice, bob, _, room = large_room
    messaging.message_send(sender=alice, room_id=room.pk, body="@bob hello")
    assert Notification.objects.count() == 0
    # The embedded default's shape: no Redis, so no separate worker: the server's own thread works.
    env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": ""}
    with ServerProcess(env, log=tmp_path / "server.log"):
        wait_for(lambda: Notification.objects.filter(recipient=bob).exists())
