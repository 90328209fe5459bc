"""Metrics, readiness and logs of a real server process after real traffic."""

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from chatproject.testing import ROOT, ServerProcess, database_url_for_tests, free_port
from conftest import needs_services
from deploy.tests.clients import metric_value

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

TOKEN = "metrics-test-token"
PASSWORD = "a long passphrase 42"


def http(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else {}


async def hello(ws) -> dict:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert frame["type"] == "hello", frame
    return frame


async def next_of(ws, kind: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


@pytest.fixture
def production_server(tmp_path):
    """uvicorn with production settings (DEBUG off, JSON logs at DEBUG level), logging to a file."""
    needs_services(postgres=True, redis=True)
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "HTTPS": "0",
        "STATIC_FROM_SOURCE": "1",
        "METRICS_TOKEN": TOKEN,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "DEBUG",
    }
    server = ServerProcess(env, server="uvicorn", log=tmp_path / "server.log")
    with server:
        yield server


async def test_metrics_after_real_traffic_and_the_token(production_server):
    base = production_server.http
    # Through the API, as an app would: register, log in, refresh, talk.
    for name in ("alice", "bob"):
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        assert http("POST", f"{base}/api/v1/auth/register/", body)[0] == 201
    _, alice = http("POST", f"{base}/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    _, alice = http("POST", f"{base}/api/v1/auth/token/refresh/", {"refresh": alice["refresh"]})
    _, bob = http("POST", f"{base}/api/v1/auth/token/", {"username": "bob", "password": PASSWORD})
    status, room = http("POST", f"{base}/api/v1/rooms/", {"name": "ops", "kind": "public"}, alice["access"])
    assert status == 201
    assert http("POST", f"{base}/api/v1/rooms/{room['id']}/join/", {}, bob["access"])[0] in (200, 201)

    alice_ws = await websockets.connect(
        production_server.ws, additional_headers={"Authorization": f"Bearer {alice['access']}"}
    )
    await hello(alice_ws)
    bob_ws = await websockets.connect(production_server.ws)  # a client that cannot set headers
    await bob_ws.send(json.dumps({"type": "auth", "token": bob["access"]}))
    await hello(bob_ws)
    bad = await websockets.connect(production_server.ws, additional_headers={"Authorization": "Bearer eyJnot.a.token"})
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(bad.recv(), 10)
    assert bad.close_code == 4401

    for n in range(3):
        frame = {"type": "message.send", "room": room["id"], "body": f"ws {n}", "client_id": f"w{n}"}
        await alice_ws.send(json.dumps(frame))
        await next_of(alice_ws, "message.ack")
        await next_of(bob_ws, "message.new")
    await alice_ws.send(json.dumps(frame))  # a resend: acked again, not a new message
    await next_of(alice_ws, "message.ack")
    for n in range(2):
        body = {"body": f"rest {n}", "client_id": f"r{n}"}
        assert http("POST", f"{base}/api/v1/rooms/{room['id']}/messages/", body, bob["access"])[0] == 201
        await next_of(alice_ws, "message.new")
    assert http("GET", f"{base}/api/v1/me/", token="eyJbad.token.here")[0] == 401

    # Without the token, or with a wrong one: 403.
    for header in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            metric_value(base, "chat_websocket_connections", token=header)
        assert refused.value.code == 403

    def metric(name: str, **labels: str) -> float:
        return metric_value(base, name, labels, token=TOKEN)

    assert metric("chat_messages_sent_total", door="ws") == 3
    assert metric("chat_messages_sent_total", door="rest") == 2
    assert metric("chat_websocket_connections") == 2
    # Bob got alice's 3 on his socket; both sockets got bob's 2 REST sends (REST has no sending socket).
    assert metric("chat_delivery_seconds_count") == 3 + 2 * 2
    assert 0 < metric("chat_delivery_seconds_sum") < 7 * 5
    assert metric("chat_delivery_seconds_bucket", le="5.0") == 7
    assert metric("chat_redis_roundtrip_seconds_count") >= 1
    assert 0 <= metric("chat_db_pool_connections_in_use") <= 24
    assert "chat_db_pool_connections_in_use" in _metric_names(base)
    await bob_ws.close()
    for _ in range(100):
        if metric("chat_websocket_connections") == 1:
            break
        await asyncio.sleep(0.1)
    assert metric("chat_websocket_connections") == 1
    status, _ = http("POST", f"{base}/api/v1/auth/logout/", {"refresh": alice["refresh"]}, alice["access"])
    assert status == 205
    await alice_ws.close()

    # The whole run's log: JSON lines, with request and connection ids, and not one token.
    production_server.stop()
    log = (production_server.log).read_text()
    assert "eyJ" not in log
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert len(entries) > 10
    assert any("request_id" in e for e in entries)
    assert any("connection_id" in e and e["message"] == "websocket closed" for e in entries)


def _metric_names(base: str) -> str:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_readyz_turns_503_when_the_hubs_redis_goes_away_and_back(server, make_user, tmp_path):
    needs_services(postgres=True)
    port = free_port()
    redis_argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis = start_redis(redis_argv)
    env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    process = ServerProcess(env, server=server, log=tmp_path / "server.log")
    try:
        await asyncio.sleep(0.3)
        process.start()
        user = await db(make_user)("watcher")
        from accounts.tests.factories import access_token

        ws = await websockets.connect(process.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})
        await hello(ws)  # the hub is up, subscribed to Redis
        assert http("GET", f"{process.http}/readyz")[0] == 200

        redis.terminate()
        redis.wait(10)
        _, body = await _poll_readyz(process, 503)
        assert list(body["failing"]) == ["realtime"]

        redis = start_redis(redis_argv)
        _, body = await _poll_readyz(process, 200)
        assert body == {"status": "ok"}
        await ws.close()
    finally:
        process.stop()
        redis.terminate()
        redis.wait(10)


def start_redis(argv: list[str]) -> subprocess.Popen:
    """Our own Redis, which this test may stop (never the shared one)."""
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


async def _poll_readyz(process: ServerProcess, wanted: int, timeout: float = 15) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = await asyncio.to_thread(http, "GET", f"{process.http}/readyz")
        if status == wanted or time.monotonic() > deadline:
            assert status == wanted, body
            return status, body
        await asyncio.sleep(0.2)


async def test_production_command_with_two_workers_reports_every_worker_in_metrics(make_user, tmp_path):
    """deploy/serve.sh as the README runs it: two uvicorn workers on one port, one /metrics for both."""
    needs_services(postgres=True, redis=True)
    from accounts.tests.factories import access_token

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SHUTDOWN_GRACE_SECONDS": "3",
    }
    log = open(tmp_path / "serve.log", "wb")  # noqa: ASYNC230  (the child writes to it)
    serve = start_serve(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            if serve.poll() is not None:
                raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
            try:
                if http("GET", f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.2)
        user = await db(make_user)("many")
        sockets = []
        for _ in range(6):
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/", additional_headers={"Authorization": f"Bearer {access_token(user)}"}
            )
            await hello(ws)
            sockets.append(ws)
        # Whichever worker answers the scrape, it reports the sockets of both.
        for _ in range(6):
            assert metric_value(base, "chat_websocket_connections") == 6
        for ws in sockets:
            await ws.close()
    finally:
        serve.terminate()
        exit_code = await asyncio.to_thread(serve.wait, 30)
        log.close()
    assert exit_code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def start_serve(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / "deploy" / "serve.sh")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
