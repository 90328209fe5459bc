"""The one-machine cluster: two production processes (uvicorn) behind Debian's nginx.

Real PostgreSQL, real Redis, real nginx with the shared proxy configuration, and
WebSocket clients that only ever talk to nginx.
"""

import asyncio
import json
import time
import urllib.request

import pytest
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.closecodes import SERVICE_RESTART
from chatproject.testing import database_url_for_tests
from conftest import needs_services
from deploy.cluster import ROOT, Cluster
from deploy.tests.clients import ChatClient, metric_value
from messaging.models import Message
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory):
    needs_services(postgres=True, redis=True)
    base = tmp_path_factory.mktemp("cluster")
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_PREFIX": settings.CACHE_PREFIX,
        "VAR_DIR": str(base / "var"),
        "SECRET_KEY": settings.SECRET_KEY,  # tokens signed here are good there
        "THROTTLE_DISABLED": "1",  # one test user sends faster than a person may
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    with Cluster(processes=2, run_dir=base / "run", env=env) as running:
        yield running


def sockets_per_process(cluster: Cluster) -> list[float]:
    return [metric_value(cluster.server_url(i), "chat_websocket_connections") for i in range(2)]


async def wait_for(condition, timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def make_room(make_user, names: list[str]):
    users = [await db(make_user)(name) for name in names]
    room = await db(rooms.room_create)(creator=users[0], name=f"room-{names[0]}", kind="public")
    for user in users[1:]:
        await db(rooms.room_join)(user=user, room_id=room.pk)
    return users, room


def test_proxy_serves_static_files_and_hides_metrics(cluster):
    with urllib.request.urlopen(f"{cluster.url}/accounts/login/", timeout=10) as response:
        page = response.read().decode()
    css = page.split('href="/static/', 1)[1].split('"', 1)[0]
    assert css.startswith("css/app.") and css.endswith(".css")  # a hashed collectstatic name
    request = urllib.request.Request(f"{cluster.url}/static/{css}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Server"].startswith("nginx")
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Content-Encoding"] == "gzip"  # collectstatic's .gz copy
    with urllib.request.urlopen(f"{cluster.url}/favicon.ico", timeout=10) as response:
        assert response.read()[:4] == b"\x00\x00\x01\x00"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.url}/metrics", timeout=10)
    assert refused.value.code == 404


def test_proxy_keeps_uploaded_files_internal_and_lets_the_server_judge_big_bodies(cluster):
    media = cluster.run_dir.parent / "var" / "media"
    (media / "secret.txt").write_text("only by X-Accel-Redirect")
    # `internal`: the files behind X-Accel-Redirect cannot be fetched directly.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.url}/_attachments/secret.txt", timeout=10)
    assert refused.value.code == 404
    assert b"X-Accel-Redirect" not in refused.value.read()

    def post(size: int) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"{cluster.url}/api/v1/auth/token/", data=b"x" * size, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    # Under the proxy's limit (an upload of up to 10 MiB plus multipart): the server answers, not nginx.
    status, body = post(11 * 1024 * 1024)
    assert status in (400, 413) and b"nginx" not in body, (status, body[:200])
    # Far over it: nginx refuses before the server reads a byte.
    status, body = post(13 * 1024 * 1024)
    assert status == 413 and b"nginx" in body


async def test_message_through_one_process_reaches_members_on_the_other(cluster, make_user):
    (alice, bob, carol), room = await make_room(make_user, ["alice", "bob", "carol"])
    before = sockets_per_process(cluster)
    alice_ws = ChatClient(cluster.ws, access_token(alice), room.pk, "alice")
    await alice_ws.connect()
    await wait_for(lambda: sum(sockets_per_process(cluster)) == sum(before) + 1, what="alice's socket")
    alice_on = next(i for i, n in enumerate(sockets_per_process(cluster)) if n > before[i])
    # least_conn: the next sockets go to the other process, which holds fewer.
    others = [ChatClient(cluster.ws, access_token(u), room.pk, u.username) for u in (bob, carol)]
    for client in others:
        await client.connect()
    await wait_for(lambda: sum(sockets_per_process(cluster)) == sum(before) + 3, what="three sockets")
    counts = [n - b for n, b in zip(sockets_per_process(cluster), before, strict=True)]
    assert counts[1 - alice_on] >= 1, f"every socket landed on one process: {counts}"

    await alice_ws.send("c1", "through nginx, across processes")
    await wait_for(lambda: "c1" in alice_ws.acked, what="the ack")
    message_id = alice_ws.acked["c1"]
    for client in others:
        await wait_for(lambda c=client: message_id in c.seen.values(), what=f"{client.name} getting it")
    for client in [alice_ws, *others]:
        await client.close()


async def test_rolling_restart_loses_no_acked_message_and_makes_no_duplicate(cluster, make_user):
    names = [f"roll{n}" for n in range(6)]
    users, room = await make_room(make_user, names)
    clients = [ChatClient(cluster.ws, access_token(u), room.pk, u.username) for u in users]
    for client in clients:
        await client.connect()
    await wait_for(lambda: all(n >= 1 for n in sockets_per_process(cluster)), what="sockets on both processes")

    sent: list[str] = []
    stop = asyncio.Event()

    async def traffic(client: ChatClient) -> None:
        n = 0
        while not stop.is_set():
            client_id = f"{client.name}-{n}"
            sent.append(client_id)
            await client.send(client_id, f"steady {n} from {client.name}")
            n += 1
            await asyncio.sleep(0.15)

    senders = [asyncio.ensure_future(traffic(c)) for c in clients]
    await asyncio.sleep(2)
    # Rolling restart: SIGTERM the first process under traffic, start it again, then the second.
    exit_seconds = []
    for index in range(2):
        took = await asyncio.to_thread(cluster.restart_server, index)
        exit_seconds.append(took)
        await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*senders)

    # Every send is acked in the end (resent after the reconnect with the same client_id).
    await wait_for(lambda: all(not c.pending for c in clients), timeout=30, what="every send acked")
    stored = await db(lambda: list(Message.objects.filter(room=room).values_list("id", "seq", "client_id")))()
    by_client_id = {}
    for message_id, _, client_id in stored:
        assert client_id not in by_client_id, f"duplicate message for {client_id}"
        by_client_id[client_id] = message_id
    assert set(by_client_id) == set(sent)  # nothing lost, nothing extra
    for client in clients:
        for client_id, message_id in client.acked.items():
            assert by_client_id[client_id] == message_id
    assert sorted(seq for _, seq, _ in stored) == list(range(1, len(stored) + 1))

    # Every member saw every message, live or by syncing after the reconnect, with no reload of anything.
    all_ids = {message_id for message_id, _, _ in stored}
    for client in clients:
        await wait_for(lambda c=client: set(c.seen.values()) == all_ids, timeout=20, what=f"{client.name} complete")
    # Clients of a restarted process were told to reconnect with 1012, and each process went quickly.
    told = [c for c in clients if SERVICE_RESTART in c.close_codes]
    assert told, [c.close_codes for c in clients]
    assert all(code == SERVICE_RESTART for c in clients for code in c.close_codes), [c.close_codes for c in clients]
    assert all(took is not None and took < 5 + 5 for took in exit_seconds), exit_seconds
    for client in clients:
        await client.close()


def test_cluster_stop_ends_exactly_its_processes(tmp_path, cluster):
    # The record names each process by pid and start time, so a reused pid is never signalled.
    record = json.loads((cluster.run_dir / "cluster.json").read_text())
    assert set(record["processes"]) == {"web-0", "web-1", "worker", "nginx"}
    assert sorted(cluster.alive()) == ["nginx", "web-0", "web-1", "worker"]
    loaded = Cluster.load(cluster.run_dir)
    assert loaded.ports == cluster.ports and loaded.port == cluster.port


def test_downloads_are_checked_by_the_server_and_sent_by_nginx(cluster, make_user):
    """ATTACHMENT_X_ACCEL_PREFIX=/_attachments/ in the cluster: the server answers X-Accel-Redirect."""
    user = make_user("uploader")
    token = access_token(user)
    png = (ROOT / "docs" / "screenshot.png").read_bytes()  # a real image, as users upload
    boundary = "chatboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{cluster.url}/api/v1/attachments/",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        attachment = json.loads(response.read())
    url = attachment["url"] if attachment["url"].startswith("http") else f"{cluster.url}{attachment['url']}"
    download = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(download, timeout=30) as response:
        assert response.read() == png
        assert "X-Accel-Redirect" not in response.headers  # nginx consumed it
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    with pytest.raises(urllib.error.HTTPError) as refused:  # no credential, no file
        urllib.request.urlopen(url, timeout=30)
    assert refused.value.code in (401, 404)
