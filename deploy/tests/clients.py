"""A chat client for tests through the proxy: reconnects on close, resends unacked sends, syncs gaps.

It behaves as the contract asks of a client (and as static/js/connection.js does): a
close is followed by a reconnect, the unacknowledged sends go again with the same
client_id, and the room is synced from the last seq seen without a gap.
"""

import asyncio
import json
import urllib.request

import websockets
from prometheus_client.parser import text_string_to_metric_families


def metric_value(base_url: str, name: str, labels: dict[str, str] | None = None, token: str | None = None) -> float:
    """The sum of a metric's samples named exactly `name` (with those labels) on one process."""
    request = urllib.request.Request(f"{base_url}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                total += sample.value
    return total


class ChatClient:
    def __init__(self, url: str, token: str, room: int, name: str) -> None:
        self.url, self.token, self.room, self.name = url, token, room, name
        self.ws = None
        self.seen: dict[int, int] = {}  # seq -> message id
        self.client_ids: dict[int, str] = {}  # message id -> client_id
        self.acked: dict[str, int] = {}  # client_id -> message id
        self.pending: dict[str, str] = {}  # client_id -> body, sent but not acked
        self.close_codes: list[int | None] = []
        self.connects = 0
        self.syncing = False
        self.reader: asyncio.Task | None = None
        self.connected = asyncio.Event()
        self.stopping = False

    @property
    def contiguous(self) -> int:
        seq = 0
        while seq + 1 in self.seen:
            seq += 1
        return seq

    async def connect(self) -> dict:
        for attempt in range(100):
            try:
                self.ws = await websockets.connect(
                    self.url, additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=10
                )
                hello = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                if hello["type"] == "hello":
                    break
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self.last_error = exc
            await asyncio.sleep(min(0.05 * 2**attempt, 1))  # the process may be restarting
        else:
            raise RuntimeError(f"{self.name} could not reconnect: {self.last_error!r}")
        self.connects += 1
        self.connected.set()
        self.reader = asyncio.ensure_future(self._read(self.ws))
        last_seq = next(r["last_seq"] for r in hello["rooms"] if r["id"] == self.room)
        if self.connects > 1 or last_seq > self.contiguous:
            await self._sync()
        for client_id, body in list(self.pending.items()):
            await self._send_frame(client_id, body)
        return hello

    async def _sync(self) -> None:
        if not self.syncing:
            self.syncing = True
            await self.ws.send(json.dumps({"type": "sync", "room": self.room, "after": self.contiguous}))

    def _saw(self, message: dict) -> None:
        self.seen[message["seq"]] = message["id"]
        self.client_ids[message["id"]] = message["client_id"]

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame["type"]
                if kind == "message.ack":
                    self.acked[frame["client_id"]] = frame["message"]["id"]
                    self.pending.pop(frame["client_id"], None)
                    self._saw(frame["message"])
                elif kind == "message.new" and frame["message"]["room"] == self.room:
                    if frame["message"]["seq"] > self.contiguous + 1:
                        await self._sync()  # a jump: ask for the gap
                    self._saw(frame["message"])
                elif kind == "sync":
                    self.syncing = False
                    for message in frame["messages"]:
                        self._saw(message)
                    if frame["has_more"]:
                        await self._sync()
        except websockets.ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)
        self.connected.clear()
        self.syncing = False
        if not self.stopping:
            self.reconnecting = asyncio.ensure_future(self.connect())

    async def _send_frame(self, client_id: str, body: str) -> None:
        frame = {"type": "message.send", "room": self.room, "body": body, "client_id": client_id}
        try:
            await self.ws.send(json.dumps(frame))
        except websockets.ConnectionClosed:
            pass  # resent after the reconnect

    async def send(self, client_id: str, body: str) -> None:
        self.pending[client_id] = body
        if self.connected.is_set():
            await self._send_frame(client_id, body)

    async def close(self) -> None:
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait([self.reader], timeout=5)
