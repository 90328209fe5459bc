"""One connection's bounded send buffer: the hub never waits for a socket.

`Outbox.put(text)` never awaits. What is "waiting to be written" is what the server
holds for the socket and has not handed to the kernel yet. Once that is over
`WS_SEND_BUFFER_BYTES`, the connection is closed with 4008 (contract, "Slow
connections"): nothing more is queued, the close frame goes after what is already
queued, and the socket is kept for up to `WS_SLOW_CLOSE_SECONDS` so that a client that
reads again sees the 4008; after that it is dropped.

How bytes get to the socket depends on the server, behind one small interface:

- daphne: frames go straight into the connection's Twisted transport (which never
  blocks); its write buffer is the backlog.
- uvicorn (`chatproject.uvicorn_ws:LeanWebSocketProtocol`, as deploy/serve.sh; its
  default `websockets-sansio`; its legacy `websockets`): frames are written to the
  asyncio transport without waiting for it to drain (the ASGI `send()` would wait, which
  is what let one reader that stopped freeze a whole process); its write buffer is the
  backlog.
- any other ASGI server: a queue drained by a writer task awaiting the ASGI `send`
  (started only while there is something to write, so idle sockets carry no task).
"""

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from chatproject.closecodes import TOO_SLOW
from chatproject.metrics import EVENTS_DROPPED, SLOW_DISCONNECTS

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class DaphneWriter:
    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def is_open(self) -> bool:
        return self.protocol.state == self.protocol.STATE_OPEN

    def write(self, data: bytes) -> None:
        # One unfragmented text frame. Not autobahn's sendMessage: that also applies
        # daphne's --websocket-max-message-size (the limit on what *clients* send, 64 KiB)
        # to the server's own messages, and refuses a bigger sync page or hello.
        self.protocol.sendFrame(opcode=1, payload=data)

    def backlog(self) -> int:
        transport = self.protocol.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def close(self, code: int) -> None:
        # autobahn drops a connection whose close handshake takes longer than this (1 s
        # by default in daphne): long enough for a reader that was stalled to see the code.
        self.protocol.closeHandshakeTimeout = settings.WS_SLOW_CLOSE_SECONDS
        self.protocol.serverClose(code)

    def abort(self) -> None:
        self.protocol.dropConnection(abort=True)


try:
    from websockets.protocol import State as _WsState

    _WS_OPEN = _WsState.OPEN
except ImportError:  # websockets not installed: this writer is never chosen
    _WS_OPEN = None


class WebsocketsWriter:
    """uvicorn's `websockets` protocol: write frames without awaiting its drain."""

    __slots__ = ("protocol", "send")

    def __init__(self, protocol: Any, send: Send) -> None:
        self.protocol, self.send = protocol, send

    def is_open(self) -> bool:
        return self.protocol.state is _WS_OPEN and not self.protocol.transport.is_closing()

    def write(self, data: bytes) -> None:
        self.protocol.write_frame_sync(True, 0x1, data)  # one text frame, no fragments

    def backlog(self) -> int:
        return self.protocol.transport.get_write_buffer_size()

    def close(self, code: int) -> None:
        # The ASGI close writes the close frame after the buffered ones and waits up to
        # the protocol's close timeout (10 s) for the handshake.
        spawn(_quietly(self.send({"type": "websocket.close", "code": code})))

    def abort(self) -> None:
        self.protocol.transport.abort()


class SansioWriter(WebsocketsWriter):
    """uvicorn's sans-I/O protocols: frame through their websockets state machine, no drain wait."""

    __slots__ = ()

    def is_open(self) -> bool:
        protocol = self.protocol
        return protocol.conn.state is _WS_OPEN and not protocol.close_sent and not protocol.transport.is_closing()

    def write(self, data: bytes) -> None:
        conn = self.protocol.conn
        conn.send_text(data)  # one text frame, no fragments
        self.protocol.transport.write(b"".join(conn.data_to_send()))


class QueueWriter:
    """Any ASGI server: a queue and a writer task that exists only while it has work."""

    __slots__ = ("closing", "queue", "queued", "send", "task")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.queue: deque[bytes | int] = deque()
        self.queued = 0
        self.task: asyncio.Task | None = None
        self.closing = False

    def is_open(self) -> bool:
        return not self.closing

    def write(self, data: bytes | int) -> None:
        self.queue.append(data)
        if isinstance(data, bytes):
            self.queued += len(data)
        if self.task is None:
            self.task = asyncio.ensure_future(self._drain())

    def backlog(self) -> int:
        return self.queued

    def close(self, code: int) -> None:
        self.write(code)
        self.closing = True

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _drain(self) -> None:
        try:
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, int):
                    await self.send({"type": "websocket.close", "code": item})
                    return
                self.queued -= len(item)
                await self.send({"type": "websocket.send", "text": item.decode()})
        except Exception:  # the socket went away; its disconnect is on its way
            EVENTS_DROPPED.labels("connection_closed").inc(len(self.queue) + 1)
            self.queue.clear()
        finally:
            self.task = None


_background: set[asyncio.Task] = set()


def spawn(awaitable: Awaitable[Any]) -> asyncio.Task:
    """A fire-and-forget task that is kept referenced until it is done."""
    task = asyncio.ensure_future(awaitable)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def _quietly(awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except Exception:  # the socket is already gone: nothing left to tell it
        pass


Writer = DaphneWriter | WebsocketsWriter | SansioWriter | QueueWriter


def writer_for(send: Send) -> Writer:
    """The fastest way to write to this server's socket that never waits for the network."""
    if isinstance(send, functools.partial) and getattr(send.func, "__name__", "") == "handle_reply":
        protocol = send.args[0] if send.args else None
        transport = getattr(protocol, "transport", None)
        if hasattr(protocol, "sendMessage") and hasattr(transport, "_tempDataLen"):
            return DaphneWriter(protocol)
    protocol = getattr(send, "__self__", None)
    if protocol is not None and hasattr(protocol, "write_frame_sync") and hasattr(protocol, "transport"):
        return WebsocketsWriter(protocol, send)
    sansio = getattr(protocol, "conn", None)
    if protocol is not None and hasattr(sansio, "send_text") and hasattr(protocol, "transport"):
        return SansioWriter(protocol, send)
    return QueueWriter(send)


class Outbox:
    """A connection's outbound frames, bounded by `WS_SEND_BUFFER_BYTES`."""

    __slots__ = ("abort_timer", "closed", "limit", "writer")

    def __init__(self, send: Send, limit: int | None = None) -> None:
        self.writer = writer_for(send)
        self.limit = settings.WS_SEND_BUFFER_BYTES if limit is None else limit
        self.closed = False
        self.abort_timer: asyncio.TimerHandle | None = None

    def put(self, text: str) -> bool:
        """Hands a frame to the socket without waiting; False if it was not taken."""
        if self.closed or not self.writer.is_open():
            EVENTS_DROPPED.labels("connection_closed").inc()
            return False
        try:
            if self.writer.backlog() > self.limit:
                self.overflow()
                return False
            self.writer.write(text.encode())
        except Exception:  # the transport went away under us; its disconnect follows
            EVENTS_DROPPED.labels("connection_closed").inc()
            self.closed = True
            return False
        return True

    def overflow(self) -> None:
        """More than the bound is waiting: 4008 after what is queued, then let it go."""
        self.closed = True
        SLOW_DISCONNECTS.inc()
        EVENTS_DROPPED.labels("slow_connection").inc()
        logger.info("closing a slow connection (4008): %d bytes waiting", self.writer.backlog())
        try:
            self.writer.close(TOO_SLOW)
        except Exception:
            pass
        loop = asyncio.get_running_loop()
        self.abort_timer = loop.call_later(settings.WS_SLOW_CLOSE_SECONDS, self._abort)

    def close(self, code: int) -> None:
        """Closes after what is already queued (any close code)."""
        if not self.closed:
            self.closed = True
            self.writer.close(code)

    def _abort(self) -> None:
        self.abort_timer = None
        try:
            self.writer.abort()
        except Exception:  # already closed
            pass

    def discard(self) -> None:
        """The connection is gone: stop the drop timer, write nothing more."""
        self.closed = True
        if self.abort_timer is not None:
            self.abort_timer.cancel()
            self.abort_timer = None
