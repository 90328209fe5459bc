"""The production uvicorn protocol (chatproject.uvicorn_ws) against uvicorn's own, on real servers."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async as db

from chatproject.testing import ServerProcess
from chatproject.tests.test_realtime import next_of, open_ws, room_with, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.services]

IDLE_SOCKETS = 300


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def idle_socket_cost_kib(server_kind: str, users: list) -> float:
    """Server memory per idle authenticated socket; every socket still answers afterwards."""
    with ServerProcess(server_env(), server=server_kind) as server:
        warm = [(await open_ws(server, user))[0] for user in users[:20]]  # first-use caches filled
        await asyncio.sleep(0.5)
        before = rss_kib(server.process.pid)
        sockets = []
        for start in range(0, IDLE_SOCKETS, 50):
            batch = [open_ws(server, users[n % len(users)]) for n in range(start, start + 50)]
            sockets += [ws for ws, _ in await asyncio.gather(*batch)]
        await asyncio.sleep(1)
        cost = (rss_kib(server.process.pid) - before) / IDLE_SOCKETS
        for ws in sockets:
            await ws.send(json.dumps({"type": "ping"}))
        for ws in sockets:
            assert (await next_of(ws, "pong"))["type"] == "pong"
        for ws in sockets + warm:
            await ws.close()
        return cost


async def test_an_idle_socket_costs_less_than_on_uvicorns_own_protocol(make_user):
    users = [await db(make_user)(f"idle{n}") for n in range(30)]
    stock = await idle_socket_cost_kib("uvicorn-stock", users)
    lean = await idle_socket_cost_kib("uvicorn", users)
    print(f"per idle socket: uvicorn-stock {stock:.1f} KiB, lean {lean:.1f} KiB")
    # The handshake, a Queue and three Events per socket are about 6 KiB of uvicorn's own.
    assert lean < stock - 2, (lean, stock)


@pytest.mark.parametrize("server_kind", ["uvicorn", "uvicorn-stock", "uvicorn-legacy"])
async def test_messages_flow_both_ways_and_the_close_handshake_completes(make_user, server_kind):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    room = await room_with(alice, bob)
    with ServerProcess(server_env(), server=server_kind) as server:
        sender, _ = await open_ws(server, alice)
        reader, _ = await open_ws(server, bob)
        for n in range(50):
            await sender.send(
                json.dumps({"type": "message.send", "room": room.pk, "body": f"m{n}", "client_id": f"c{n}"})
            )
        acks = [(await next_of(sender, "message.ack"))["message"]["seq"] for _ in range(50)]
        bodies = [(await next_of(reader, "message.new"))["message"]["body"] for _ in range(50)]
        assert bodies == [f"m{n}" for n in range(50)]
        assert acks == sorted(acks)
        for ws in (sender, reader):
            await ws.close()
            assert ws.close_code == 1000  # the server answered the close frame
