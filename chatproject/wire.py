"""The one wire format for times, shared by every app's `wire.py` and every door.

UTC, microseconds, a literal `Z`: `2026-01-31T12:00:00.000000Z`. Clients compare these
as strings, so every time on the wire must be written by this module.
"""

from datetime import UTC, datetime

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def wire_time(value: datetime | None) -> str | None:
    """A stored (aware, UTC) datetime as the wire writes it; None stays None."""
    return value.strftime(TIME_FORMAT) if value is not None else None


def wire_time_from_unix(timestamp: float | None) -> str | None:
    """Unix seconds (the presence store's clock) as a wire time."""
    return wire_time(datetime.fromtimestamp(timestamp, UTC)) if timestamp is not None else None


def parse_wire_time(value: str) -> datetime:
    """The inverse of wire_time, for pages that group wire messages by time."""
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
