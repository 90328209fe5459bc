"""Scenario 3: a rolling restart (SIGTERM) of one of two processes under traffic, then a crash (SIGKILL)."""

import asyncio
import time

import pytest

from chatproject import closecodes
from reliability.audit import audit_room
from reliability.clients import ChatClient, SendLog, reconnect, sender
from reliability.harness import FAST_PRESENCE
from reliability.report import Row
from reliability.scenario import connect_all, make_world, rest, sync_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

USERS = 12
SEND_INTERVAL = 0.2
# Documented: users of a process that died turn offline within PRESENCE_TTL + PRESENCE_SWEEP seconds.
OFFLINE_WITHIN = int(FAST_PRESENCE["PRESENCE_TTL_SECONDS"]) + int(FAST_PRESENCE["PRESENCE_SWEEP_SECONDS"])


def test_rolling_restart_then_crash(launch, redis_server, report):
    fleet = [
        launch("daphne", redis=redis_server, **FAST_PRESENCE),
        launch("uvicorn", redis=redis_server, **FAST_PRESENCE),
    ]
    world = make_world(USERS, prefix="rc")
    result = asyncio.run(_run(world, fleet, launch, redis_server))

    audit = audit_room(world.room_id, result["logs"], result["clients"])
    acked = sum(len(log.acked) for log in result["logs"])
    report.add(
        Row(
            "3. Rolling restart and crash",
            "daphne process SIGTERMed (and started again), then the uvicorn process SIGKILLed",
            f"2 processes, {USERS} clients failing over, 4 senders at {1 / SEND_INTERVAL:.0f}/s each",
            acked,
            audit.lost,
            audit.duplicates,
            f"every client back and synced {result['back_after_term']:.1f} s after SIGTERM and "
            f"{result['back_after_kill']:.1f} s after SIGKILL; a user of the killed process offline after "
            f"{result['offline_after']:.1f} s (documented: within {OFFLINE_WITHIN} s)",
            f"close codes seen on SIGTERM: {sorted(set(result['term_codes']), key=str)}",
        )
    )
    audit.assert_clean()
    assert acked > 50
    # Graceful shutdown (chatproject/shutdown.py) closes every socket with 1012 before the process exits.
    assert set(result["term_codes"]) == {closecodes.SERVICE_RESTART}, result["term_codes"]
    assert result["offline_after"] < OFFLINE_WITHIN + 5  # margin for a loaded machine
    assert result["rest_offline"]


async def _run(world, fleet, launch, redis_server) -> dict:
    def urls() -> list[str]:
        return [server.ws for server in fleet if server.running()]

    clients = [ChatClient(urls, token, f"c{i}") for i, token in enumerate(world.tokens)]
    await connect_all(clients, [fleet[0].ws, fleet[1].ws])  # even on daphne, odd on uvicorn
    lonely = clients[-1]  # on uvicorn (odd index), never reconnects: its user must turn offline
    assert USERS % 2 == 0
    stop = asyncio.Event()
    logs = [SendLog() for _ in range(4)]
    tasks = [
        asyncio.ensure_future(sender(client, world.room_id, f"s{n}", stop, logs[n], SEND_INTERVAL))
        for n, client in enumerate(clients[:4])
    ]
    passive = [c for c in clients[4:] if c is not lonely]

    async def keep_connected(client: ChatClient) -> None:
        while not stop.is_set():
            if not client.open:
                await reconnect(client)
            await asyncio.sleep(0.1)

    keepers = [asyncio.ensure_future(keep_connected(c)) for c in passive]
    await asyncio.sleep(3)

    on_daphne = [c for i, c in enumerate(clients) if i % 2 == 0]
    term_started = time.monotonic()
    await asyncio.to_thread(fleet[0].terminate)
    back_after_term = await _all_back(clients[:-1], [fleet[1]], term_started)
    term_codes = [c.close_codes[0] if c.close_codes else None for c in on_daphne]
    fleet[0] = launch("daphne", redis=redis_server, **FAST_PRESENCE)  # the restarted process
    await asyncio.sleep(3)

    watcher = next(c for c in passive if c.open)
    offline_seen: list[float] = []
    offline_event = asyncio.Event()

    def watch(frame: dict) -> None:
        if frame.get("type") == "presence" and frame["user"] == world.users[-1].pk and frame["status"] == "offline":
            offline_seen.append(time.monotonic())
            offline_event.set()

    for client in passive:
        client.on_frame = watch
    killed_at = time.monotonic()
    await asyncio.to_thread(fleet[1].crash)
    lonely.ws = None
    back_after_kill = await _all_back(clients[:-1], [fleet[0]], killed_at)
    try:
        await asyncio.wait_for(offline_event.wait(), max(0.0, killed_at + OFFLINE_WITHIN + 10 - time.monotonic()))
    except TimeoutError:
        pass
    offline_after = (offline_seen[0] if offline_seen else float("inf")) - killed_at
    response = await asyncio.to_thread(
        rest, fleet[0], world.tokens[0], "GET", f"/api/v1/presence/?users={world.users[-1].pk}"
    )
    rest_offline = response.json()[str(world.users[-1].pk)]["status"] == "offline"
    await asyncio.sleep(2)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, *keepers), 60)
    survivors = clients[:-1]
    await sync_all(survivors, world.room_id)
    for client in survivors:
        await client.close()
    assert watcher is not None
    return {
        "clients": survivors,
        "logs": logs,
        "term_codes": term_codes,
        "back_after_term": back_after_term,
        "back_after_kill": back_after_kill,
        "offline_after": offline_after,
        "rest_offline": rest_offline,
    }


async def _all_back(clients: list[ChatClient], on: list, since: float, timeout: float = 60) -> float:
    """Seconds from `since` until every client has a socket open to one of the `on` servers."""
    targets = {server.ws for server in on}
    deadline = since + timeout
    while time.monotonic() < deadline:
        if all(c.open and c.ws is not None and _url_of(c) in targets for c in clients):
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    raise AssertionError("clients did not all fail over in time")


def _url_of(client: ChatClient) -> str:
    host, port = client.ws.remote_address[:2]
    return f"ws://{host}:{port}/ws/"
