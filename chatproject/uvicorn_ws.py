"""uvicorn's sans-I/O WebSocket protocol, holding less for each open socket.

deploy/serve.sh runs uvicorn with `--ws chatproject.uvicorn_ws:LeanWebSocketProtocol`; see
docs/scaling.md, "What an idle socket holds on uvicorn".

uvicorn's own `websockets-sansio` keeps, for the whole life of every socket, the
handshake's request and response with all their headers, an `asyncio.Queue` for what
the client sent (three deques and an Event) and an `asyncio.Event` for flow control:
about 6 KiB of an idle socket. This subclass lets the handshake go once it is answered
and uses two short lists and a future only while something waits. The wire behaviour
is uvicorn's (same frames, same limits, same close handshake and keepalive) but for one
repair: a connection failed by the server (a frame over `--ws-max-size`, bad UTF-8, a
protocol error) ends with its close frame actually arriving. uvicorn closes the socket
at once, and when the client's next frames are still unread the kernel answers with a
reset that can destroy the close frame in flight: the client saw 1006 instead of 1009.
"""

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chatproject.leansync import LeanFlag, LeanInbox


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanInbox()  # type: ignore[assignment]
        self.writable = LeanFlag()  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        # Frames that arrived before the bad one are the client's messages: hand them on first.
        self.handle_events()
        if self.conn.parser_exc is not None:
            self.handle_parser_exception()

    def handle_parser_exception(self) -> None:
        if self.close_sent:
            return  # already failed: websockets discards what the client still sends
        close = self.conn.close_sent
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        # As websockets' own server does: close frame, then FIN, then read (and discard)
        # until the client closes its side, so nothing unread is left to cause a reset.
        self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Only the handshake reads them; the scope keeps the headers the app needs.
            self.request = self.response = None  # type: ignore[assignment]
