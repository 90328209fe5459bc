"""`python -m chatproject.daphne_server ARGS`: daphne with its own arguments, closing over-size frames with 1009.

Daphne enforces `--websocket-max-message-size`, but its WebSocket library (autobahn) by
default answers a violation by dropping the TCP connection ("failByDrop"), so the client
sees an abnormal close (1006) instead of the contract's 1009. Daphne has no flag for that
option; this sets it where daphne builds its WebSocket factory, and changes nothing else.
"""

import sys

from daphne import server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


class CloseFrameWebSocketFactory(WebSocketFactory):
    """Fails a connection with a close frame carrying the reason's code (1009: message too big)."""

    def setProtocolOptions(self, *args, **kwargs) -> None:
        kwargs["failByDrop"] = False
        super().setProtocolOptions(*args, **kwargs)


def main(argv: list[str] | None = None) -> None:
    server.WebSocketFactory = CloseFrameWebSocketFactory
    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
