"""Let daphne (`make run`'s server) send the protocol close codes the contract uses.

daphne hands `websocket.close` to autobahn's `sendClose`, which accepts only 1000 and
3000-4999, so a 1012 (service restart) or 1009 (too big) from the application is
refused and the socket is cut without a close frame (the client sees 1006). Those
codes are valid on the wire (RFC 6455, IANA registry); for them we write the close
frame directly. uvicorn needs nothing of this.
"""

PROTOCOL_CODES = {1009, 1011, 1012, 1013}


def allow_protocol_close_codes() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # daphne not installed: nothing to adapt
        return
    if getattr(WebSocketProtocol, "_chat_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def server_close(self, code=None):
        if code in PROTOCOL_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    WebSocketProtocol.serverClose = server_close
    WebSocketProtocol._chat_close_codes = True
