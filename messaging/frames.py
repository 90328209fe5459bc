"""Frame handlers of the `/ws/` door, by frame type. Each parses, calls a service, answers."""

from typing import Any

from channels.db import database_sync_to_async

from accounts.selectors import user_public
from chatproject.errors import Invalid


async def on_authenticated(consumer) -> dict[str, Any]:
    return {"type": "hello", "user": user_public(consumer.user), "rooms": []}


async def on_disconnect(consumer) -> None:
    return None


async def handle_ping(consumer, frame: dict) -> None:
    await consumer.send_frame({"type": "pong"})


HANDLERS = {
    "ping": handle_ping,
}


async def handle(consumer, frame: dict) -> None:
    kind = frame.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise Invalid(f"Unknown frame type: {str(kind)[:40]!r}.")
    await handler(consumer, frame)


__all__ = ["database_sync_to_async", "handle", "on_authenticated", "on_disconnect"]
