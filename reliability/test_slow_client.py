"""Scenario 5: a client that stops reading in a busy room, on daphne (`make run`) and uvicorn (production).

It must never slow the others (their p99 stays within budget), is closed with 4008 once
more than WS_SEND_BUFFER_BYTES wait for it, the server's memory stays bounded, and the
client, reading again, sees the 4008, reconnects and syncs without loss.
"""

import asyncio
import statistics
import time

import pytest

from chatproject.tests.rawws import RawWebSocket
from reliability.audit import audit_room
from reliability.clients import ChatClient, SendLog, reconnect
from reliability.report import Row
from reliability.scenario import connect_all, make_world, urls_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

BUFFER = 256 * 1024
# The load stays small enough for the test process to read on a shared 2-core machine (the
# readers' p99 must measure the server, not the client), and big enough to fill the stalled
# socket's kernel buffers and then its outbox within seconds.
BODY = 8_000  # characters per message
RATE = 20  # messages per second into the room
SECONDS = 15
READERS = 4
# The stalled client's segments are Ethernet-sized: on loopback (64 KiB segments) the kernel
# would size the server's send buffer for megabytes, which no real client path gets.
STALLED_MSS = 1400
P99_BUDGET = 1.0  # seconds from send to the other clients' message.new
MEMORY_BUDGET_KIB = 100 * 1024


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_stalled_client_is_closed_4008_and_slows_nobody(kind, launch, redis_server, report):
    server = launch(kind, redis=redis_server, WS_SEND_BUFFER_BYTES=str(BUFFER), MESSAGE_MAX_LENGTH="10000")
    world = make_world(READERS + 2, prefix=f"sl{kind[0]}")
    result = asyncio.run(_run(world, server))

    audit = audit_room(world.room_id, [result["log"]], result["clients"])
    p99 = result["p99"]
    report.add(
        Row(
            f"5. Slow client ({kind})",
            f"one client stops reading (16 KiB receive buffer); WS_SEND_BUFFER_BYTES={BUFFER // 1024} KiB",
            f"{RATE} messages/s of {BODY // 1000} KB into its room for {SECONDS} s, {READERS} reading clients",
            len(result["log"].acked),
            audit.lost,
            audit.duplicates,
            f"4008 after {result['closed_after']:.1f} s of stalling; reconnected and synced "
            f"{result['resynced']} messages",
            f"others' delivery p50 {result['p50'] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (budget "
            f"{P99_BUDGET * 1000:.0f} ms); server memory +{result['rss_growth'] // 1024} MiB",
        )
    )
    audit.assert_clean()
    assert result["close_code"] == 4008
    assert p99 < P99_BUDGET
    assert result["rss_growth"] < MEMORY_BUDGET_KIB
    assert result["closed_after"] < SECONDS


async def _run(world, server) -> dict:
    urls = urls_of(server)
    readers = [ChatClient(urls, token, f"r{i}") for i, token in enumerate(world.tokens[1 : READERS + 1])]
    await connect_all(readers)
    sending = ChatClient(urls, world.tokens[0], "sender")
    await sending.connect()

    # The stalled client: a plain socket with a small receive buffer that nobody reads
    # (a WebSocket library would go on reading frames into its own queue).
    stalled = await asyncio.to_thread(
        RawWebSocket, server.process.port, world.tokens[-1], rcvbuf=16 * 1024, mss=STALLED_MSS
    )
    assert (await asyncio.to_thread(stalled.next_json))["type"] == "hello"
    rss_before = server.rss_kib()

    sent_at: dict[str, float] = {}
    latencies: list[float] = []

    def watch(frame: dict) -> None:
        if frame.get("type") == "message.new":
            started = sent_at.get(frame["message"]["client_id"])
            if started is not None:
                latencies.append(time.monotonic() - started)

    for reader in readers:
        reader.on_frame = watch
    log = SendLog()
    started = time.monotonic()
    slow_closed: list[float] = []

    close_codes: list[int | None] = []

    async def read_the_rest() -> None:
        # The stalled client reads again: what was queued for it, then the 4008.
        _, code = await asyncio.to_thread(stalled.read_until_close, 15)
        close_codes.append(code)
        stalled.close()

    async def watch_metric() -> None:
        # When the server gave up on the stalled socket (it closes it with 4008 then), the
        # client starts reading again, well within the 10 s the contract keeps it for.
        while not slow_closed and time.monotonic() - started < SECONDS + 5:
            if await asyncio.to_thread(server.metric, "chat_slow_disconnects_total") >= 1:
                slow_closed.append(time.monotonic())
                await asyncio.sleep(1)  # still stalled a moment: the server must not wait for it
                await read_the_rest()
                return
            await asyncio.sleep(0.25)

    watcher = asyncio.ensure_future(watch_metric())
    number = 0
    pending = []
    while time.monotonic() - started < SECONDS:
        # Sends are not awaited one by one (acks come back in order anyway): a steady rate.
        number += 1
        client_id = f"slow-{number}"
        log.attempted.add(client_id)
        sent_at[client_id] = time.monotonic()
        pending.append(
            asyncio.ensure_future(sending.send_message(world.room_id, f"{number} " + "x" * BODY, client_id, 60))
        )
        await asyncio.sleep(1 / RATE)
    for client_id, frame in zip(sorted(sent_at, key=sent_at.get), await asyncio.gather(*pending), strict=True):
        assert frame["type"] == "message.ack", frame
        log.acked[client_id] = frame["message"]["id"]
    rss_growth = server.rss_kib() - rss_before
    await asyncio.sleep(1)

    await watcher
    closed_after = (slow_closed[0] if slow_closed else float("inf")) - started
    close_code = close_codes[0] if close_codes else None

    # It reconnects as the contract says and syncs from what it had: everything is there.
    again = ChatClient(urls, world.tokens[-1], "stalled-again")
    await reconnect(again)
    resynced = len(again.view(world.room_id).by_seq)
    for reader in readers:
        await reader.sync(world.room_id)
    await sending.sync(world.room_id)
    for client in [*readers, sending, again]:
        await client.close()
    ordered = sorted(latencies)
    return {
        "clients": [*readers, sending, again],
        "log": log,
        "close_code": close_code,
        "closed_after": closed_after,
        "resynced": resynced,
        "p50": statistics.median(ordered) if ordered else float("inf"),
        "p99": ordered[int(len(ordered) * 0.99) - 1] if ordered else float("inf"),
        "rss_growth": rss_growth,
    }
