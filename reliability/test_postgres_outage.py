"""Scenario 2: the proxy before PostgreSQL cuts every connection for 5 s under traffic (WebSocket and REST)."""

import asyncio
import functools
import json
import time

import pytest
import websockets

from reliability.audit import audit_room
from reliability.clients import ChatClient, SendLog, rest_sender, sender
from reliability.report import Row
from reliability.scenario import Readiness, connect_all, log_problems, make_world, rest, sync_all, urls_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

OUTAGE_SECONDS = 5
USERS = 10
SEND_INTERVAL = 0.1


def test_postgres_outage_never_acks_what_it_did_not_store(launch, redis_server, pg_proxy, report):
    servers = (
        launch("daphne", redis=redis_server, proxy=pg_proxy),
        launch("uvicorn", redis=redis_server, proxy=pg_proxy),
    )
    world = make_world(USERS, prefix="po")
    result = asyncio.run(_run(world, servers, pg_proxy))

    logs = result["logs"]
    audit = audit_room(world.room_id, logs, result["clients"])
    acked = sum(len(log.acked) for log in logs)
    codes = sorted({code for log in logs for codes in log.refused.values() for code in codes})
    report.add(
        Row(
            "2. PostgreSQL outage",
            f"TCP proxy before PostgreSQL cut for {OUTAGE_SECONDS} s ({result['cut']} connections aborted)",
            f"2 processes, {USERS} clients, 4 WebSocket + 2 REST senders at {1 / SEND_INTERVAL:.0f}/s each",
            acked,
            audit.lost,
            audit.duplicates,
            f"first ack {result['first_ack']:.1f} s after the database returned; /readyz 200 after "
            f"{result['ready_again']:.1f} s",
            f"refusals answered with codes {codes}; {result['pool_ok']}/20 requests right after recovery "
            f"succeeded; seq gaps {audit.gaps}",
        )
    )
    audit.assert_clean()
    assert acked > 50
    assert all(code == "unavailable" for code in codes), codes  # errors carry a code; never an ack
    assert result["first_ack"] < 10
    assert result["pool_ok"] == 20
    for readiness in result["readiness"]:
        assert 503 in readiness.statuses_between(result["cut_at"] + 1, result["restored_at"])
        assert readiness.samples[-1][1] == 200


async def _run(world, servers, proxy) -> dict:
    clients = [ChatClient(urls_of(*servers), token, f"c{i}") for i, token in enumerate(world.tokens)]
    await connect_all(clients, [s.ws for s in servers])
    stop, polling = asyncio.Event(), asyncio.Event()
    ws_logs = [SendLog() for _ in range(4)]
    rest_logs = [SendLog() for _ in range(2)]
    tasks = [
        asyncio.ensure_future(sender(client, world.room_id, f"w{n}", stop, ws_logs[n], SEND_INTERVAL))
        for n, client in enumerate(clients[:4])
    ]
    for n in range(2):
        post = functools.partial(rest, servers[n], world.tokens[4 + n], "POST")
        tasks.append(
            asyncio.ensure_future(rest_sender(post, world.room_id, f"r{n}", stop, rest_logs[n], SEND_INTERVAL))
        )
    readiness = [Readiness(server) for server in servers]
    pollers = [asyncio.ensure_future(r.poll(polling)) for r in readiness]

    await asyncio.sleep(3)
    cut = proxy.cut()
    cut_at = time.monotonic()
    await asyncio.sleep(OUTAGE_SECONDS)
    proxy.restore()
    restored_at = time.monotonic()
    await asyncio.sleep(6)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 90)
    polling.set()
    await asyncio.gather(*pollers)

    logs = ws_logs + rest_logs
    pool_ok = 0
    for n in range(20):
        response = await asyncio.to_thread(
            rest, servers[n % 2], world.tokens[0], "GET", f"/api/v1/rooms/{world.room_id}/"
        )
        pool_ok += response.status_code == 200
    await sync_all(clients, world.room_id)
    for client in clients:
        await client.close()
    first_ack = _first_ack_after(logs, restored_at)
    ready_again = max(
        min((at for at, status in r.samples if at > restored_at and status == 200), default=float("inf")) - restored_at
        for r in readiness
    )
    return {
        "clients": clients,
        "logs": logs,
        "cut": cut,
        "cut_at": cut_at,
        "restored_at": restored_at,
        "first_ack": first_ack,
        "ready_again": ready_again,
        "readiness": readiness,
        "pool_ok": pool_ok,
    }


def _first_ack_after(logs, restored_at: float) -> float:
    # Ack times are durations; the senders stamp when an ack arrived in `first_ack_after`.
    stamps = [t for log in logs for t in log.ack_stamps if t > restored_at]
    return min(stamps, default=float("inf")) - restored_at


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_socket_opened_while_the_database_is_cut_is_told_to_come_back(kind, launch, pg_proxy, report):
    server = launch(kind, proxy=pg_proxy)
    world = make_world(2, prefix=f"ph{kind[0]}")
    result = asyncio.run(_handshakes(server, world.tokens[1], pg_proxy))
    problems = log_problems(server)
    report.add(
        Row(
            f"2. PostgreSQL outage at the handshake ({kind})",
            "TCP proxy before PostgreSQL cut while sockets open (Bearer header and first-frame auth)",
            "one socket of each kind during the cut, one after",
            "-",
            "-",
            "-",
            f"hello {result['hello_after']:.1f} s after the database returned",
            f"during the cut: frames {result['frames']}, close codes {result['codes']}; "
            f"{problems['tracebacks']} tracebacks in the server log",
        )
    )
    # Told why and when to come back, not a crashed handler (1011 and a traceback).
    assert result["frames"] == [["unavailable"], ["unavailable"]], (result, server.log_text()[-3000:])
    assert result["codes"] == [1013, 1013]
    assert problems["tracebacks"] == 0, server.log_text()[-5000:]
    assert result["hello_after"] < 15


async def _handshakes(server, token: str, proxy) -> dict:
    async def open_socket(first_frame_auth: bool) -> tuple[list[str], int | None, dict | None]:
        headers = {} if first_frame_auth else {"Authorization": f"Bearer {token}"}
        async with websockets.connect(server.ws, additional_headers=headers, open_timeout=10) as ws:
            if first_frame_auth:
                await ws.send(json.dumps({"type": "auth", "token": token}))
            codes, hello = [], None
            try:
                while hello is None:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame["type"] == "hello":
                        hello = frame
                    else:
                        codes.append(frame.get("code"))
            except websockets.ConnectionClosed:
                pass
            return codes, ws.close_code, hello

    proxy.cut()
    during = [await open_socket(False), await open_socket(True)]
    proxy.restore()
    restored_at = time.monotonic()
    while True:
        _, _, hello = await open_socket(False)
        if hello is not None or time.monotonic() - restored_at > 30:
            break
        await asyncio.sleep(0.2)
    return {
        "frames": [codes for codes, _, _ in during],
        "codes": [code for _, code, _ in during],
        "hello_after": time.monotonic() - restored_at if hello is not None else float("inf"),
    }
