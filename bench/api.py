"""REST side of the chat server contract (/api/v1/): users, tokens, rooms, history."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.httpclient import HttpConnection, HttpError

API = "/api/v1"
T = TypeVar("T")


class ApiError(Exception):
    pass


@dataclass
class User:
    username: str
    password: str
    access: str = ""
    refresh: str = ""
    user_id: int | None = None
    token_at: float = 0.0


async def bounded(items: Iterable[T], func: Callable[[T], Awaitable[Any]], concurrency: int) -> list[Any]:
    """Run func over items with at most `concurrency` in flight; raise the first error."""
    sem = asyncio.Semaphore(concurrency)

    async def one(item: T) -> Any:
        async with sem:
            return await func(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


class ConnPool:
    """A fixed set of keep-alive connections handed out round-robin."""

    def __init__(self, host: str, port: int, size: int, timeout: float = 60.0) -> None:
        self.conns = [HttpConnection(host, port, timeout) for _ in range(max(1, size))]
        self._next = 0

    def get(self) -> HttpConnection:
        conn = self.conns[self._next % len(self.conns)]
        self._next += 1
        return conn

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()


def expect(resp_status: int, ok: Iterable[int], what: str, body: bytes) -> None:
    if resp_status not in ok:
        raise ApiError(f"{what}: HTTP {resp_status}: {body[:300]!r}")


class UserPool:
    """Creates and logs in bench users; caches them (with tokens) in a JSON file."""

    def __init__(self, pool: ConnPool, cache: Path | None, prefix: str, concurrency: int) -> None:
        self.pool = pool
        self.cache = cache
        self.prefix = prefix
        self.concurrency = concurrency
        self.users: list[User] = []
        if cache is not None and cache.exists():
            self.users = [User(**u) for u in json.loads(cache.read_text())]

    def save(self) -> None:
        if self.cache is not None:
            tmp = self.cache.with_suffix(".tmp")
            tmp.write_text(json.dumps([asdict(u) for u in self.users]))
            os.replace(tmp, self.cache)

    async def ensure(self, n: int, token_max_age: float = 120.0) -> list[User]:
        """Return n users with fresh access tokens, registering missing ones."""
        start = len(self.users)
        new = [User(f"{self.prefix}{i:05d}", f"pw-{self.prefix}-{i}-Xq9!") for i in range(start, n)]
        if new:
            t0 = time.monotonic()
            await bounded(new, self._register, self.concurrency)
            self.users.extend(new)
            self.save()
            print(f"  registered {len(new)} users in {time.monotonic() - t0:.1f}s", flush=True)
        chosen = self.users[:n]
        stale = [u for u in chosen if time.time() - u.token_at > token_max_age]
        if stale:
            t0 = time.monotonic()
            await bounded(stale, self._fresh_token, self.concurrency)
            self.save()
            print(f"  tokens for {len(stale)} users in {time.monotonic() - t0:.1f}s", flush=True)
        return chosen

    async def _register(self, user: User) -> None:
        body = {
            "username": user.username,
            "email": f"{user.username}@bench.invalid",
            "password": user.password,
            "display_name": user.username,
        }
        resp = await self.pool.get().request("POST", f"{API}/auth/register/", body)
        if resp.status == 400 and b"exist" in resp.body.lower():
            pass  # left over from an earlier run against the same database
        else:
            expect(resp.status, (200, 201), f"register {user.username}", resp.body)
            data = resp.json() or {}
            user.user_id = data.get("id") or (data.get("user") or {}).get("id")
        await self._login(user)

    async def _login(self, user: User) -> None:
        body = {"username": user.username, "password": user.password}
        resp = await self.pool.get().request("POST", f"{API}/auth/token/", body)
        expect(resp.status, (200,), f"token {user.username}", resp.body)
        data = resp.json()
        user.access, user.refresh, user.token_at = data["access"], data["refresh"], time.time()

    async def _fresh_token(self, user: User) -> None:
        """Refresh (simplejwt-style auth/token/refresh/) if possible, else log in again."""
        if user.refresh:
            resp = await self.pool.get().request("POST", f"{API}/auth/token/refresh/", {"refresh": user.refresh})
            if resp.status == 200:
                data = resp.json()
                user.access = data["access"]
                user.refresh = data.get("refresh", user.refresh)
                user.token_at = time.time()
                return
        await self._login(user)


async def create_room(conn: HttpConnection, owner: User, name: str) -> int:
    body = {"name": name, "kind": "public", "topic": "bench"}
    resp = await conn.request("POST", f"{API}/rooms/", body, token=owner.access)
    expect(resp.status, (200, 201), f"create room {name}", resp.body)
    return int(resp.json()["id"])


async def join_room(conn: HttpConnection, user: User, room: int) -> None:
    resp = await conn.request("POST", f"{API}/rooms/{room}/join/", {}, token=user.access)
    expect(resp.status, (200, 201, 204), f"join room {room} as {user.username}", resp.body)


async def fetch_history(
    conn: HttpConnection, user: User, room: int, after: int = 0, limit: int = 200
) -> list[dict[str, Any]]:
    """All messages of a room with seq > after, paging through ?after=&limit=."""
    out: list[dict[str, Any]] = []
    for _ in range(1_000_000):
        path = f"{API}/rooms/{room}/messages/?after={after}&limit={limit}"
        resp = await conn.request("GET", path, token=user.access)
        expect(resp.status, (200,), f"history room {room}", resp.body)
        data = resp.json()
        page = data["results"] if isinstance(data, dict) else data
        out.extend(page)
        if not page or not (isinstance(data, dict) and data.get("has_more")):
            break
        after = int(page[-1]["seq"])
    return out


async def post_message(conn: HttpConnection, user: User, room: int, body: str, client_id: str) -> int:
    resp = await conn.request(
        "POST",
        f"{API}/rooms/{room}/messages/",
        {"body": body, "client_id": client_id},
        token=user.access,
    )
    return resp.status


__all__ = [
    "API",
    "ApiError",
    "ConnPool",
    "HttpError",
    "User",
    "UserPool",
    "bounded",
    "create_room",
    "fetch_history",
    "join_room",
    "post_message",
]
