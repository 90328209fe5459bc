"""A frames.Connection without a socket, for testing frame handlers directly."""

from collections.abc import Callable
from typing import Any


class RecordingConnection:
    """A frames.Connection that keeps what it would have sent to its client."""

    def __init__(self, user, conn_id: str = "test.1") -> None:
        self.user, self.user_id, self.conn_id = user, user.pk, conn_id
        self.rooms: set[int] = set()
        self.sent: list[dict] = []
        self.queued: list[tuple[int, int, bool]] = []
        self.state: dict[str, Any] = {}

    async def send_frame(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)

    async def join_rooms(self, room_ids) -> None:  # frames.Connection's name since the channel-layer hub
        self.rooms.update(room_ids)

    def queue_marker(self, room_id: int, up_to: int, *, read: bool) -> None:
        self.queued.append((room_id, up_to, read))

    def conn_state(self, key: str, factory: Callable[[], Any]) -> Any:
        return self.state.setdefault(key, factory())
