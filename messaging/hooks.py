"""Hooks `messaging` owns; higher apps connect receivers in their AppConfig.ready()."""

from chatproject.hooks import Hook

# receiver(message: Message, room_kind: str) -> None: a message was just stored, inside
# the send transaction (what a receiver writes commits or rolls back with it; keep it
# to a fixed number of queries, the send path's count is pinned). Notifications makes
# mention and direct-message notifications.
message_stored = Hook("message_stored")

# async receiver(conn: Connection) -> dict: a WebSocket connection authenticated and
# joined its rooms; the dict's keys are added to its `hello` frame.
connection_opened = Hook("connection_opened")

# async receiver(conn: Connection) -> None: an authenticated connection closed.
connection_closed = Hook("connection_closed")
