"""WebSocket clients: our server's /ws/ protocol and the reference tutorial protocol.

Message bodies carry the send timestamp: "t=<perf_counter_ns> <key> <padding>".
Senders and receivers share this process, so perf_counter_ns is comparable.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.stats import Step

now_ns = time.perf_counter_ns


def make_body(key: str, pad: int) -> str:
    return f"t={now_ns()} {key} " + "x" * pad


def body_time_ns(body: str) -> int | None:
    if not body.startswith("t="):
        return None
    end = body.find(" ")
    try:
        return int(body[2 : end if end > 0 else None])
    except ValueError:
        return None


class SharedState:
    """State shared by all clients of one load generator process."""

    def __init__(self) -> None:
        self.step = Step(rate=0)
        self.room_max_acked: dict[int, int] = {}
        self.acked: dict[str, dict[str, Any]] = {}  # client_id -> message
        self.contract_notes: set[str] = set()

    def note(self, text: str) -> None:
        if text not in self.contract_notes and len(self.contract_notes) < 30:
            self.contract_notes.add(text)
            print(f"  contract note: {text}", flush=True)


async def open_ws(url: str, token: str | None, timeout: float) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await connect(
        url,
        additional_headers=headers,
        # Offered, as every browser and most mobile WebSocket libraries do: the server
        # decides (ours declines it, deploy/serve.sh), and its memory per socket shows it.
        compression="deflate",
        open_timeout=timeout,
        ping_interval=None,
        close_timeout=2,
        max_size=2**24,
        max_queue=None,
    )


@dataclass(slots=True)
class RoomView:
    last: int = 0  # highest seq such that 1..last (after the start point) were all seen
    ahead: set[int] = field(default_factory=set)  # seen seqs above a hole
    not_live: set[int] = field(default_factory=set)  # seen via ack/sync, not yet live
    sync_inflight: bool = False
    sync_timer: bool = False


class _Connection:
    """A WebSocket plus the task reading it; both client kinds close the same way."""

    ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 3)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()


class OursClient(_Connection):
    """One authenticated /ws/ connection to our server."""

    def __init__(self, shared: SharedState, url: str, token: str, gap_grace: float) -> None:
        self.shared = shared
        self.url = url
        self.token = token
        self.gap_grace = gap_grace
        self.ws: ClientConnection | None = None
        self.rooms: dict[int, RoomView] = {}
        self.pending: dict[str, int] = {}  # client_id -> send perf_counter_ns
        self.expired: set[str] = set()  # sends whose step ended before their ack
        self.hello = asyncio.Event()
        self.pongs = 0
        self.closed = False
        self.close_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Future[None]] = set()

    async def start(self, timeout: float, expect_rooms: list[int]) -> None:
        try:
            self.ws = await open_ws(self.url, self.token, timeout)
        except InvalidStatus as exc:
            raise RuntimeError(f"ws handshake rejected: HTTP {exc.response.status_code}") from exc
        self._task = asyncio.create_task(self._reader())
        try:
            await asyncio.wait_for(self.hello.wait(), timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"no hello within {timeout}s ({self.close_reason})") from exc
        for room in expect_rooms:
            if room not in self.rooms:
                self.shared.note(f"hello did not list room {room}; assuming last_seq=0")
                self.rooms[room] = RoomView()

    async def send_json(self, obj: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(orjson.dumps(obj).decode())

    async def send_message(self, room: int, client_id: str, pad: int) -> None:
        self.pending[client_id] = now_ns()
        body = make_body(client_id, pad)
        await self.send_json({"type": "message.send", "room": room, "body": body, "client_id": client_id})

    def request_sync(self, room: int) -> None:
        view = self.rooms[room]
        if view.sync_inflight or self.closed:
            return
        view.sync_inflight = True
        self.shared.step.sync_requests += 1
        task = asyncio.ensure_future(self._send_quiet({"type": "sync", "room": room, "after": view.last}))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _send_quiet(self, obj: dict[str, Any]) -> None:
        try:
            await self.send_json(obj)
        except ConnectionClosed:
            pass

    def behind(self, room: int, target: int) -> int:
        view = self.rooms.get(room)
        return target if view is None else max(0, target - view.last)

    # ---- frame handling -------------------------------------------------
    async def _reader(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self._on_frame(orjson.loads(raw))
        except ConnectionClosed as exc:
            self.close_reason = f"closed code={exc.rcvd.code if exc.rcvd else None}"
        except Exception as exc:
            self.close_reason = f"reader error {exc!r}"
        finally:
            self.closed = True

    def _on_frame(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        shared = self.shared
        if kind == "message.new":
            shared.step.frames += 1
            self._arrive(msg["message"], live=True)
        elif kind == "message.ack":
            self._on_ack(msg)
        elif kind == "sync":
            self._on_sync(msg)
        elif kind == "hello":
            for r in msg.get("rooms") or []:
                self.rooms[int(r["id"])] = RoomView(last=int(r.get("last_seq") or 0))
            self.hello.set()
        elif kind == "pong":
            self.pongs += 1
        elif kind == "error":
            shared.step.errors[str(msg.get("code"))] += 1
            shared.note(f"error frame {msg.get('code')}: {str(msg.get('detail'))[:200]}")
            ref = msg.get("ref")
            if isinstance(ref, str) and self.pending.pop(ref, None) is not None:
                shared.step.errors["send_rejected"] += 1
            if str(msg.get("code")) in ("sync_failed", "not_member"):
                for view in self.rooms.values():
                    view.sync_inflight = False

    def _on_ack(self, msg: dict[str, Any]) -> None:
        shared = self.shared
        cid = msg.get("client_id")
        message = msg.get("message") or {}
        sent = self.pending.pop(cid, None) if isinstance(cid, str) else None
        if sent is not None:
            shared.step.acked += 1
            shared.step.ack_latencies_us.append((now_ns() - sent) // 1000)
        elif isinstance(cid, str) and cid in self.expired:
            self.expired.discard(cid)  # late ack of an earlier, failed step: still a stored message
        else:
            shared.note("message.ack for an unknown/duplicate client_id")
            return
        room, seq = int(message["room"]), int(message["seq"])
        shared.acked[cid] = message
        if seq > shared.room_max_acked.get(room, 0):
            shared.room_max_acked[room] = seq
        view = self.rooms.setdefault(room, RoomView())
        if seq > view.last and seq not in view.ahead:
            view.ahead.add(seq)
            view.not_live.add(seq)
            self._advance(view, room, gap_from_live=False)

    def _on_sync(self, msg: dict[str, Any]) -> None:
        room = int(msg["room"])
        view = self.rooms.setdefault(room, RoomView())
        for m in msg.get("messages") or []:
            self._arrive(m, live=False)
        view.sync_inflight = False
        if msg.get("has_more"):
            self.request_sync(room)
        elif view.ahead:
            self._schedule_gap_check(room)

    def _arrive(self, m: dict[str, Any], live: bool) -> None:
        step = self.shared.step
        room, seq = int(m["room"]), int(m["seq"])
        view = self.rooms.get(room)
        if view is None:
            self.shared.note(f"message for room {room} not announced in hello")
            view = self.rooms[room] = RoomView(last=seq - 1)
        if seq <= view.last or seq in view.ahead:
            if not live:
                return
            if seq in view.not_live:
                view.not_live.discard(seq)
                step.late_after_sync += 1
            else:
                step.duplicates += 1
            return
        t = body_time_ns(m.get("body") or "")
        if t is not None:
            step.latencies_us.append((now_ns() - t) // 1000)
        if not live:
            step.recovered_by_sync += 1
            view.not_live.add(seq)
        view.ahead.add(seq)
        self._advance(view, room, gap_from_live=live)

    def _advance(self, view: RoomView, room: int, gap_from_live: bool) -> None:
        while view.last + 1 in view.ahead:
            view.last += 1
            view.ahead.discard(view.last)
        if view.ahead and gap_from_live:
            self._schedule_gap_check(room)

    def _schedule_gap_check(self, room: int) -> None:
        view = self.rooms[room]
        if view.sync_timer:
            return
        view.sync_timer = True

        def check() -> None:
            view.sync_timer = False
            if view.ahead:
                self.request_sync(room)

        asyncio.get_running_loop().call_later(self.gap_grace, check)

    def check_gaps_now(self) -> None:
        """Sync every room with a known hole (used while draining a step)."""
        for room, view in self.rooms.items():
            if view.ahead:
                self.request_sync(room)


class RefClient(_Connection):
    """One connection to the reference tutorial consumer at /ws/chat/<room>/."""

    def __init__(self, shared: SharedState, url: str, room: str) -> None:
        self.shared = shared
        self.url = url
        self.room = room
        self.ws: ClientConnection | None = None
        self.seen: set[str] = set()
        self.closed = False
        self.close_reason = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float) -> None:
        self.ws = await open_ws(self.url, None, timeout)
        self._task = asyncio.create_task(self._reader())

    async def send_message(self, key: str, pad: int) -> None:
        assert self.ws is not None
        await self.ws.send(orjson.dumps({"message": make_body(key, pad)}).decode())

    async def _reader(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                step = self.shared.step
                step.frames += 1
                body = orjson.loads(raw).get("message") or ""
                key = body.split(" ", 2)[1] if body.count(" ") >= 1 else body
                if key in self.seen:
                    step.duplicates += 1
                    continue
                self.seen.add(key)
                step.received += 1
                t = body_time_ns(body)
                if t is not None:
                    step.latencies_us.append((now_ns() - t) // 1000)
        except ConnectionClosed as exc:
            self.close_reason = f"closed code={exc.rcvd.code if exc.rcvd else None}"
        except Exception as exc:
            self.close_reason = f"reader error {exc!r}"
        finally:
            self.closed = True
