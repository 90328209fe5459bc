"""Clients that behave like the contract's: they remember what they saw, resend by client_id, sync gaps.

Each keeps its own view of every room (seq -> message id) from acks, `message.new` and
`sync`, so a scenario can audit every client's view against the database afterwards.
"""

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websockets

# A handshake may take long while hundreds reconnect at once on a shared 2-core machine.
CONNECT_TIMEOUT = 30
# Error codes after which the same frame is sent again later: nothing was stored.
RETRIABLE = {"unavailable", "internal", "throttled"}
_numbers = itertools.count(1)


class Conflict(AssertionError):
    """A client saw two different messages under one seq (or one message under two seqs)."""


@dataclass
class View:
    """One client's view of one room."""

    by_seq: dict[int, int] = field(default_factory=dict)

    def add(self, seq: int, message_id: int) -> None:
        known = self.by_seq.get(seq)
        if known is not None and known != message_id:
            raise Conflict(f"seq {seq} seen as message {known} and {message_id}")
        self.by_seq[seq] = message_id

    def contiguous(self) -> int:
        """The highest seq up to which this view has no gap."""
        seq = 0
        while seq + 1 in self.by_seq:
            seq += 1
        return seq


class ChatClient:
    """One device: a WebSocket to one of several servers (it fails over), with its bookkeeping."""

    def __init__(self, urls: Callable[[], list[str]], token: str, name: str = "") -> None:
        self.urls = urls
        self.token = token
        self.name = name or f"client{next(_numbers)}"
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.views: dict[int, View] = {}
        self.waiters: dict[str, asyncio.Future] = {}
        self.syncs: dict[int, asyncio.Future] = {}
        self.pongs: list[asyncio.Future] = []
        self.frames: list[dict] = []  # everything that is not bookkeeping (presence, errors without ref…)
        self.close_codes: list[int | None] = []
        self.hello: dict | None = None
        self.connected_at: float | None = None
        self.keep_frames = False
        self.on_frame: Callable[[dict], None] | None = None

    def view(self, room_id: int) -> View:
        return self.views.setdefault(room_id, View())

    @property
    def open(self) -> bool:
        return self.ws is not None and self.reader is not None and not self.reader.done()

    async def connect(self, url: str | None = None) -> dict:
        """Opens the socket (to `url`, else the first server that answers) and waits for hello."""
        errors = []
        for candidate in [url] if url else self.urls():
            try:
                ws = await websockets.connect(
                    candidate,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=CONNECT_TIMEOUT,
                    max_size=None,
                    ping_interval=None,
                    close_timeout=2,
                )
                hello = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                errors.append(f"{candidate}: {type(exc).__name__}: {exc}")
                continue
            if hello.get("type") != "hello":
                await ws.close()
                errors.append(f"{candidate}: first frame {hello}")
                continue
            self.ws, self.hello, self.connected_at = ws, hello, time.monotonic()
            self.reader = asyncio.ensure_future(self._read(ws))
            return hello
        raise ConnectionError("; ".join(errors) or "no server to connect to")

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                self._on_frame(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)
            for future in [*self.waiters.values(), *self.syncs.values(), *self.pongs]:
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            self.waiters.clear()
            self.syncs.clear()
            self.pongs.clear()

    def _on_frame(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            self.view(message["room"]).add(message["seq"], message["id"])
        elif kind == "message.ack":
            message = frame["message"]
            self.view(message["room"]).add(message["seq"], message["id"])
            self._resolve(frame.get("client_id"), frame)
        elif kind == "sync":
            for message in frame["messages"]:
                self.view(message["room"]).add(message["seq"], message["id"])
            future = self.syncs.pop(frame["room"], None)
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "pong":
            if self.pongs:
                future = self.pongs.pop(0)
                if not future.done():
                    future.set_result(frame)
        elif kind == "error" and frame.get("ref") in self.waiters:
            self._resolve(frame["ref"], frame)
        else:
            if self.keep_frames:
                self.frames.append(frame)
        if self.on_frame is not None:
            self.on_frame(frame)

    def _resolve(self, ref: str | None, frame: dict) -> None:
        future = self.waiters.pop(ref, None) if ref is not None else None
        if future is not None and not future.done():
            future.set_result(frame)

    async def send_json(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_message(self, room_id: int, body: str, client_id: str, timeout: float = 15) -> dict:
        """The ack or error frame for this send; ConnectionError/TimeoutError when neither came."""
        if not self.open:
            raise ConnectionError("not connected")
        future = asyncio.get_running_loop().create_future()
        self.waiters[client_id] = future
        try:
            await self.send_json({"type": "message.send", "room": room_id, "body": body, "client_id": client_id})
        except websockets.ConnectionClosed as exc:
            self.waiters.pop(client_id, None)
            raise ConnectionError("socket closed") from exc
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self.waiters.pop(client_id, None)

    async def ping(self, timeout: float = 10) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.pongs.append(future)
        await self.send_json({"type": "ping"})
        return await asyncio.wait_for(future, timeout)

    async def sync(self, room_id: int, timeout: float = 20) -> None:
        """Catches up from the last gapless seq, page by page, as the protocol says."""
        while True:
            future = asyncio.get_running_loop().create_future()
            self.syncs[room_id] = future
            await self.send_json({"type": "sync", "room": room_id, "after": self.view(room_id).contiguous()})
            frame = await asyncio.wait_for(future, timeout)
            if not frame["has_more"]:
                return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    def drop(self) -> None:
        """The network goes away under the client: no close frame, the TCP connection is aborted."""
        if self.ws is not None:
            self.ws.transport.abort()


@dataclass
class SendLog:
    """What a sender knows about its own sends: the ground truth for "acked means stored"."""

    acked: dict[str, int] = field(default_factory=dict)  # client_id -> message id
    refused: dict[str, list[str]] = field(default_factory=dict)  # client_id -> error codes seen
    attempted: set[str] = field(default_factory=set)
    unanswered: int = 0  # sends whose socket closed or timed out before an answer (then resent)
    reconnects: int = 0
    ack_times: list[float] = field(default_factory=list)  # seconds from send to ack
    ack_stamps: list[float] = field(default_factory=list)  # monotonic time each ack arrived


async def reconnect(client: ChatClient, log: SendLog | None = None, deadline: float = 60) -> None:
    """Reconnects with a short backoff (to any server that answers), then syncs every room it knows."""
    stop = time.monotonic() + deadline
    delay = 0.1
    while True:
        try:
            await client.connect()
            break
        except ConnectionError:
            if time.monotonic() > stop:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    if log is not None:
        log.reconnects += 1
    for room in client.hello["rooms"]:
        await client.sync(room["id"])


async def sender(client: ChatClient, room_id: int, prefix: str, stop: asyncio.Event, log: SendLog, interval: float):
    """Sends numbered messages until `stop`; each one until it is acked, by the same client_id.

    An error frame (the database is away) or a lost socket means "not stored yet": the
    same client_id is sent again (after reconnecting), so a resend never duplicates.
    """
    number = 0
    while not stop.is_set():
        number += 1
        client_id = f"{prefix}-{number}"
        log.attempted.add(client_id)
        while True:
            try:
                if not client.open:
                    await reconnect(client, log)
                started = time.monotonic()
                frame = await client.send_message(room_id, f"{prefix} message {number}", client_id)
            except (ConnectionError, TimeoutError):
                log.unanswered += 1
                await asyncio.sleep(0.2)
                continue
            if frame["type"] == "message.ack":
                log.acked[client_id] = frame["message"]["id"]
                log.ack_times.append(time.monotonic() - started)
                log.ack_stamps.append(time.monotonic())
                break
            log.refused.setdefault(client_id, []).append(frame["code"])
            if frame["code"] not in RETRIABLE:
                break  # refused for good (the scenario audits that nothing was stored)
            await asyncio.sleep(0.3)
        await asyncio.sleep(interval)


async def rest_sender(post: Callable, room_id: int, prefix: str, stop: asyncio.Event, log: SendLog, interval: float):
    """Like `sender`, through `POST rooms/{id}/messages/`: 201/200 is an ack, a 5xx must carry a code."""
    number = 0
    while not stop.is_set():
        number += 1
        client_id = f"{prefix}-{number}"
        log.attempted.add(client_id)
        while True:
            started = time.monotonic()
            try:
                response = await asyncio.to_thread(
                    post,
                    f"/api/v1/rooms/{room_id}/messages/",
                    json={"body": f"{prefix} message {number}", "client_id": client_id},
                )
            except OSError:
                log.unanswered += 1
                await asyncio.sleep(0.3)
                continue
            if response.status_code in (200, 201):
                log.acked[client_id] = response.json()["id"]
                log.ack_times.append(time.monotonic() - started)
                log.ack_stamps.append(time.monotonic())
                break
            try:
                code = response.json().get("code", f"http {response.status_code} without code")
            except ValueError:
                code = f"http {response.status_code} not JSON"
            log.refused.setdefault(client_id, []).append(code)
            if code not in RETRIABLE:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(interval)
