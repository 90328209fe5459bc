"""Building blocks shared by the scenarios: a room full of users, their clients, probes."""

import asyncio
import time
from dataclasses import dataclass, field

import requests

from accounts.tests.factories import access_token, create_user
from reliability.clients import ChatClient
from reliability.harness import Server
from rooms import services as rooms


@dataclass
class World:
    room_id: int
    users: list
    tokens: list[str]


def make_world(n_users: int, name: str = "busy", prefix: str = "u") -> World:
    """One public room with n users (the first owns it), each with an access token."""
    users = [create_user(f"{prefix}{i}") for i in range(n_users)]
    room = rooms.room_create(creator=users[0], name=name, kind="public")
    for user in users[1:]:
        rooms.room_join(user=user, room_id=room.pk)
    return World(room.pk, users, [access_token(user) for user in users])


def urls_of(*servers: Server):
    """The failover list a client tries, in order, skipping servers that are down."""
    return lambda: [server.ws for server in servers if server.running()]


@dataclass
class Readiness:
    """`/readyz` of a server, polled: (time, status) samples."""

    server: Server
    samples: list[tuple[float, int]] = field(default_factory=list)

    async def poll(self, stop: asyncio.Event, every: float = 0.25) -> None:
        while not stop.is_set():
            try:
                status, _ = await asyncio.to_thread(self.server.get, "/readyz", None, 4)
            except OSError:
                status = 0
            self.samples.append((time.monotonic(), status))
            await asyncio.sleep(every)

    def statuses_between(self, start: float, end: float) -> set[int]:
        return {status for at, status in self.samples if start <= at <= end}


def rest(server: Server, token: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        server.http + path,
        headers={"Authorization": f"Bearer {token}"},
        timeout=kwargs.pop("timeout", 15),
        **kwargs,
    )


async def connect_all(clients: list[ChatClient], urls: list[str] | None = None, concurrency: int = 50) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, client: ChatClient) -> None:
        # Like a real client: a handshake that fails (the machine is overloaded) is tried again.
        async with gate:
            for attempt in range(3):
                try:
                    await client.connect(urls[index % len(urls)] if urls else None)
                    return
                except ConnectionError:
                    if attempt == 2:
                        raise
                    await asyncio.sleep(1 + attempt)

    await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))


async def sync_all(clients: list[ChatClient], room_id: int) -> None:
    await asyncio.gather(*(client.sync(room_id) for client in clients))


def log_problems(*servers: Server) -> dict[str, int]:
    """What the server logs must not hold after a fault: tracebacks, pool exhaustion, 1011s."""
    text = "\n".join(server.log_text() for server in servers)
    return {
        "tracebacks": text.count("Traceback (most recent call last)"),
        "no_connection_available": text.count("No connection available"),
    }
