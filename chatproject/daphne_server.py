"""`python -m chatproject.daphne_server ARGS`: daphne with its own arguments, closing over-size frames with 1009.

Daphne enforces `--websocket-max-message-size`, but its WebSocket library (autobahn) by
default answers a violation by dropping the TCP connection ("failByDrop"), so the client
sees an abnormal close (1006) instead of the contract's 1009. Daphne has no flag for that
option; this sets it where daphne builds its WebSocket factory, and changes nothing else.
"""

import sys

# The largest WebSocket message a client may send (settings.WS_MAX_FRAME_BYTES; the contract's 64 KiB).
MAX_MESSAGE_BYTES = 64 * 1024


def _close_frame_factory() -> type:
    # Imported here, not at the top: importing daphne.server installs Twisted's reactor,
    # which only the server process should do (`command()` is used by its parents too).
    from daphne.ws_protocol import WebSocketFactory

    class CloseFrameWebSocketFactory(WebSocketFactory):
        """Fails a connection with a close frame carrying the reason's code (1009: message too big)."""

        def setProtocolOptions(self, *args, **kwargs) -> None:
            kwargs["failByDrop"] = False
            super().setProtocolOptions(*args, **kwargs)

    return CloseFrameWebSocketFactory


def command(host: str, port: int | str, app: str = "chatproject.asgi:application") -> list[str]:
    """The daphne command line of `make run` and of the test servers."""
    size = str(MAX_MESSAGE_BYTES)
    return [
        sys.executable,
        "-m",
        "chatproject.daphne_server",
        "-b",
        host,
        "-p",
        str(port),
        "--websocket-max-message-size",
        size,
        "--websocket-max-frame-size",
        size,
        app,
    ]


def main(argv: list[str] | None = None) -> None:
    from daphne import server
    from daphne.cli import CommandLineInterface

    server.WebSocketFactory = _close_frame_factory()
    CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
