"""REST requests reuse their threads (chatproject/asgi_handler.py).

Django's stock handler starts (and joins) a thread per request; ours lends each request a
one-thread executor from a free list. What a user would notice if it went wrong: threads
or database connections piling up in a busy server, or requests served one at a time.
"""

import asyncio
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.http import HttpResponse

from accounts.tests.factories import access_token
from chatproject.asgi_handler import ReusedThreadsASGIHandler
from chatproject.testing import SERVERS, ServerProcess
from chatproject.tests.test_realtime import metric, server_env
from testsupport.factories import create_room

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


class ThreadRecording(ReusedThreadsASGIHandler):
    """Answers every request from a sync step that records the thread it ran on."""

    def __init__(self, step) -> None:
        super().__init__()
        self.step = step

    async def get_response_async(self, request):
        await sync_to_async(self.step)()  # thread-sensitive, as Django runs sync views
        return HttpResponse("ok")


async def get(app) -> int:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"", "server": ("t", 80)}
    sent, received = [], []
    body_sent = asyncio.Event()

    async def receive():
        received.append(1)
        if len(received) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await body_sent.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            body_sent.set()

    await app(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.asyncio
async def test_requests_one_after_another_run_on_one_kept_thread_and_concurrent_ones_side_by_side():
    seen = []
    app = ThreadRecording(lambda: seen.append(threading.current_thread()))
    assert [await get(app) for _ in range(5)] == [200] * 5
    assert len(set(seen)) == 1 and seen[0].is_alive()  # Django's own handler: five threads, each joined

    both_in = threading.Barrier(2, timeout=5)  # breaks unless the two requests run at once
    app.step = both_in.wait
    assert await asyncio.gather(get(app), get(app)) == [200, 200]


def threads_of(server: ServerProcess) -> int:
    with open(f"/proc/{server.process.pid}/status") as status:
        return int(next(line for line in status if line.startswith("Threads:")).split()[1])


@pytest.mark.parametrize("server_kind", SERVERS)
def test_a_busy_server_keeps_its_thread_count_and_gives_back_its_database_connections(make_user, server_kind):
    user = make_user("poster")
    room = create_room(user)
    token = access_token(user)

    def post(n: int) -> int:
        request = urllib.request.Request(
            f"{server.http}/api/v1/rooms/{room.pk}/messages/",
            data=json.dumps({"body": f"m{n}", "client_id": f"c{n}"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status

    with ServerProcess(server_env(THROTTLE_DISABLED="1"), server=server_kind) as server:
        with ThreadPoolExecutor(8) as clients:
            assert set(clients.map(post, range(40))) == {201}  # warm: the free list fills
            before = threads_of(server)
            assert set(clients.map(post, range(40, 240))) == {201}
        after = threads_of(server)
        time.sleep(0.5)
        in_use = metric(server, "chat_db_pool_connections_in_use")
        history = urllib.request.Request(
            f"{server.http}/api/v1/rooms/{room.pk}/messages/?limit=1", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(history, timeout=10) as response:
            latest = json.loads(response.read())
    # 200 more requests, 8 at a time, on the threads the first 40 left: a thread per
    # request would show as growth here (a few threads of slack for the server's own).
    assert after <= before + 4, (before, after)
    assert in_use <= 1  # the /metrics request itself may hold one
    assert latest["results"][-1]["seq"] == 240  # every request stored its message
