"""Structured (one JSON object per line) log output, with the request or connection it is about."""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# Set by RequestIdMiddleware (HTTP) and by the WebSocket consumer (chatproject/shutdown.py).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
connection_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("connection_id", default=None)

# A JWT (access or refresh token) is three base64url parts, the first always "eyJ".
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    return _JWT.sub("[token]", text) if "eyJ" in text else text


class ContextFilter(logging.Filter):
    """Adds request_id / connection_id, and blanks anything that looks like a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (rid := request_id.get()) is not None:
            record.request_id = rid
        if (cid := connection_id.get()) is not None:
            record.connection_id = cid
        message = record.getMessage()
        if "eyJ" in message:
            record.msg, record.args = redact(message), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)
