"""Adapting daphne (`make run`'s server): protocol close codes, and uploads kept out of memory.

Close codes:
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


def disable_form_parsing() -> None:
    """Stops daphne's Twisted request from parsing multipart bodies itself.

    Twisted's Request, as daphne makes it, reads every multipart/form-data POST whole
    into memory and parses it with the email package (several copies of a 10 MiB upload)
    before the application sees a byte, only to fill `request.args`, which daphne never
    uses. Turned off, the body stays in Twisted's temporary file and Django reads it in
    chunks. uvicorn needs nothing of this.
    """
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:
        return
    if getattr(WebRequest, "_chat_no_form_parsing", False):
        return
    original = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    WebRequest.__init__ = __init__
    WebRequest._chat_no_form_parsing = True
