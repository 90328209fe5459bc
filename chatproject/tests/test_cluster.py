"""Sharded pub/sub on a Redis Cluster of three nodes started by the test."""

import asyncio
import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
from channels.db import database_sync_to_async as db

from chatproject.testing import ServerProcess
from chatproject.tests.test_realtime import next_of, open_ws, room_with, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.services]


NODE_COMMAND = ["redis-server", "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--save", "", "--appendonly", "no"]


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too (so <= 55535)."""
    while True:
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@pytest.fixture
def redis_cluster():
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.skip("redis-server and redis-cli are needed to start a cluster")
    ports = [cluster_port() for _ in range(3)]
    workdir = Path(tempfile.mkdtemp(prefix="cluster-"))
    nodes = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            nodes.append(
                subprocess.Popen(
                    [*NODE_COMMAND, "--port", str(port)],
                    cwd=node_dir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis(host="127.0.0.1", port=port).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        subprocess.run(
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=30,
        )
        deadline = time.monotonic() + 20
        while any(redis.Redis(host="127.0.0.1", port=p).cluster("INFO").get("cluster_state") != "ok" for p in ports):
            if time.monotonic() > deadline:
                states = [redis.Redis(host="127.0.0.1", port=p).cluster("INFO") for p in ports]
                raise RuntimeError(f"the cluster did not come up: {states}")
            time.sleep(0.1)
        yield ports
    finally:
        for node in nodes:
            node.terminate()
        for node in nodes:
            node.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


async def test_events_cross_processes_over_sharded_pubsub_spread_over_the_nodes(make_user, redis_cluster):
    alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
    rooms = [await room_with(alice, bob, name=f"r{n}") for n in range(12)]
    env = server_env(REALTIME_REDIS_URL=f"redis+cluster://127.0.0.1:{redis_cluster[0]}/0")
    with ServerProcess(env) as first, ServerProcess(env) as second:
        alice_ws, _ = await open_ws(first, alice)
        bob_ws, _ = await open_ws(second, bob)
        for n, room in enumerate(rooms):
            await alice_ws.send(
                json.dumps({"type": "message.send", "room": room.pk, "body": f"m{n}", "client_id": f"c{n}"})
            )
            await next_of(alice_ws, "message.ack")
            frame = await next_of(bob_ws, "message.new")
            assert (frame["message"]["room"], frame["message"]["body"]) == (room.pk, f"m{n}")
        # The rooms' sharded channels live on more than one node, each with both processes.
        per_node = []
        for port in redis_cluster:
            channels = redis.Redis(host="127.0.0.1", port=port).execute_command("PUBSUB SHARDCHANNELS")
            per_node.append([c.decode() for c in channels if b":g.room." in c])
        assert sum(len(c) for c in per_node) == len(rooms)
        assert sum(1 for c in per_node if c) >= 2
        node = redis.Redis(host="127.0.0.1", port=redis_cluster[[bool(c) for c in per_node].index(True)])
        channel = next(c for c in per_node if c)[0]
        assert node.execute_command("PUBSUB SHARDNUMSUB", channel) == [(channel.encode(), 2)]
        await asyncio.gather(alice_ws.close(), bob_ws.close())
