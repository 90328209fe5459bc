"""Scenario 1: Redis is killed for 10 s under traffic on two processes (daphne and uvicorn), then started again."""

import asyncio
import time

import pytest

from reliability.audit import audit_room
from reliability.clients import ChatClient, SendLog, sender
from reliability.harness import FAST_PRESENCE
from reliability.report import Row
from reliability.scenario import Readiness, connect_all, make_world, rest, sync_all, urls_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

OUTAGE_SECONDS = 10
USERS = 12
SENDERS_PER_SERVER = 2
SEND_INTERVAL = 0.1


def test_redis_outage_loses_nothing_and_recovers(launch, redis_server, report):
    first = launch("daphne", redis=redis_server, **FAST_PRESENCE)
    second = launch("uvicorn", redis=redis_server, **FAST_PRESENCE)
    world = make_world(USERS, prefix="ro")
    result = asyncio.run(_run(world, first, second, redis_server))

    audit = audit_room(world.room_id, result["logs"], result["clients"])
    acked = sum(len(log.acked) for log in result["logs"])
    refused = sum(len(log.refused) for log in result["logs"])
    report.add(
        Row(
            "1. Redis outage",
            f"redis-server SIGKILLed for {OUTAGE_SECONDS} s, then restarted (empty)",
            f"2 processes (daphne + uvicorn), {USERS} clients, {2 * SENDERS_PER_SERVER} senders at "
            f"{1 / SEND_INTERVAL:.0f}/s each",
            acked,
            audit.lost,
            audit.duplicates,
            f"cross-process delivery {result['resumed']:.1f} s after restart; /readyz 200 after "
            f"{result['ready_again']:.1f} s",
            f"{refused} sends refused with an error frame and resent; new sockets during the outage got hello; "
            f"GET presence/ answered {sorted(result['presence_statuses'])}",
        )
    )
    audit.assert_clean()
    assert acked > 100
    assert result["outage_hellos"] == 2  # one new socket on each process while Redis was down
    assert result["presence_statuses"] == {200}
    assert result["resumed"] < 10
    for readiness in result["readiness"]:
        assert 503 in readiness.statuses_between(result["killed_at"] + 1, result["restarted_at"])
        assert readiness.samples[-1][1] == 200
    assert result["presence_after"] == "online"  # the heartbeat wrote live connections back


async def _run(world, first, second, redis_server) -> dict:
    servers = (first, second)
    clients = [ChatClient(urls_of(*servers), token, f"c{i}") for i, token in enumerate(world.tokens)]
    # Even clients on the first process, odd on the second.
    await connect_all(clients, [first.ws, second.ws])
    on_second = {id(c) for i, c in enumerate(clients) if i % 2}
    senders_first = [c for i, c in enumerate(clients) if i % 2 == 0][:SENDERS_PER_SERVER]
    senders_second = [c for i, c in enumerate(clients) if i % 2][:SENDERS_PER_SERVER]
    first_ids = {world.users[clients.index(c)].pk for c in senders_first}

    # Live cross-process arrivals: a message from a sender on the first process reaching the second.
    arrivals: list[float] = []

    def watch(frame: dict) -> None:
        if frame.get("type") == "message.new" and frame["message"]["sender"]["id"] in first_ids:
            arrivals.append(time.monotonic())

    watcher = next(c for c in clients if id(c) in on_second and c not in senders_second)
    watcher.on_frame = watch

    stop, polling = asyncio.Event(), asyncio.Event()
    logs = [SendLog() for _ in range(2 * SENDERS_PER_SERVER)]
    tasks = [
        asyncio.ensure_future(sender(client, world.room_id, f"s{n}", stop, logs[n], SEND_INTERVAL))
        for n, client in enumerate(senders_first + senders_second)
    ]
    readiness = [Readiness(server) for server in servers]
    pollers = [asyncio.ensure_future(r.poll(polling)) for r in readiness]

    await asyncio.sleep(3)
    redis_server.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(3)
    # While Redis is down: new sockets still get hello, and presence answers (degraded).
    outage_hellos = 0
    for server in servers:
        late = ChatClient(urls_of(server), world.tokens[-1], "late")
        hello = await late.connect()
        outage_hellos += hello["type"] == "hello"
        await late.close()
    presence_statuses = set()
    for server in servers:
        response = await asyncio.to_thread(
            rest, server, world.tokens[0], "GET", f"/api/v1/presence/?users={world.users[1].pk}"
        )
        presence_statuses.add(response.status_code)
    await asyncio.sleep(max(0, OUTAGE_SECONDS - (time.monotonic() - killed_at)))
    redis_server.start()
    restarted_at = time.monotonic()
    await asyncio.sleep(6)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)

    resumed = min((t for t in arrivals if t > restarted_at), default=float("inf")) - restarted_at
    ready_again = max(
        min((at for at, status in r.samples if at > restarted_at and status == 200), default=float("inf"))
        - restarted_at
        for r in readiness
    )
    polling.set()
    await asyncio.gather(*pollers)
    await sync_all(clients, world.room_id)
    response = await asyncio.to_thread(
        rest, first, world.tokens[1], "GET", f"/api/v1/presence/?users={world.users[0].pk}"
    )
    presence_after = response.json()[str(world.users[0].pk)]["status"]
    for client in clients:
        await client.close()
    return {
        "clients": clients,
        "logs": logs,
        "killed_at": killed_at,
        "restarted_at": restarted_at,
        "resumed": resumed,
        "ready_again": ready_again,
        "readiness": readiness,
        "outage_hellos": outage_hellos,
        "presence_statuses": presence_statuses,
        "presence_after": presence_after,
    }
