"""uvicorn's sans-I/O WebSocket protocol, holding less for each open socket.

Run uvicorn with `--ws chatproject.uvicorn_ws:LeanWebSocketProtocol`. Not yet the default
in deploy/serve.sh: see docs/scaling.md, "What an idle socket holds on uvicorn".

uvicorn's own `websockets-sansio` keeps, for the whole life of every socket, the
handshake's request and response with all their headers, an `asyncio.Queue` for what
the client sent (three deques and an Event) and an `asyncio.Event` for flow control:
about 6 KiB of an idle socket. This subclass lets the handshake go once it is answered
and uses two short lists and a future only while something waits. The wire behaviour
is uvicorn's: same frames, same limits, same close handshake and keepalive.
"""

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chatproject.leansync import LeanFlag, LeanInbox


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanInbox()  # type: ignore[assignment]
        self.writable = LeanFlag()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Only the handshake reads them; the scope keeps the headers the app needs.
            self.request = self.response = None  # type: ignore[assignment]
