"""Typing indicators: relayed, never stored, limited per connection."""

import time

from django.conf import settings

from chatproject.db import db_call
from chatproject.errors import FieldErrors, PermissionDenied
from notifications import events
from rooms.selectors import room_get_visible

STATES = ("start", "stop")
# A burst allowance per connection on top of the per-room interval.
BURST = 10
BURST_WINDOW_SECONDS = 5


class TypingLimiter:
    """Per connection: a room's `start` goes out at most every TYPING_MIN_INTERVAL seconds,
    a `stop` only after a `start` went out, and at most BURST frames per window in all."""

    def __init__(self) -> None:
        self.last_start: dict[int, float] = {}
        self.window_start = 0.0
        self.window_count = 0

    def allow(self, room_id: int, state: str) -> bool:
        now = time.monotonic()
        if now - self.window_start > BURST_WINDOW_SECONDS:
            self.window_start, self.window_count = now, 0
        if self.window_count >= BURST:
            return False
        if state == "start":
            if now - self.last_start.get(room_id, -1e9) < settings.TYPING_MIN_INTERVAL_SECONDS:
                return False
            self.last_start[room_id] = now
        elif self.last_start.pop(room_id, None) is None:
            return False
        self.window_count += 1
        return True


async def typing_relay(*, user, room_id, state, member_of: set[int], limiter: TypingLimiter) -> None:
    """Relays to the room's other members' connections (not to the typist's own)."""
    if state not in STATES:
        raise FieldErrors({"state": ['Must be "start" or "stop".']})
    if room_id not in member_of:
        # The refusal every door gives (as message.send): not_found for a room the user may
        # not see, permission_denied for one they may (public, or any room for a moderator).
        # Only a refusal reads the database; relaying uses the connection's own rooms.
        await db_call(room_get_visible)(user=user, room_id=room_id)
        raise PermissionDenied("You are not a member of this room.")
    if not limiter.allow(room_id, state):
        return
    events.typing(user=user, room_id=room_id, state=state)
