"""Coalescing of read/delivered frames on one connection.

A client scrolling through a room may send a marker frame per message it shows; the
coalescer turns a burst into one marker move per (room, kind) after a short delay, the
highest seq winning. Reads go first: a read also moves delivered, which may make the
delivered move moot (the service then publishes nothing for it).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chatproject.db import database_unavailable
from chatproject.errors import DomainError, Unavailable

logger = logging.getLogger(__name__)

MoveMarker = Callable[[int, int, bool], Awaitable[None]]  # (room id, up to, read)
ReportError = Callable[[DomainError], Awaitable[None]]


class MarkerCoalescer:
    def __init__(self, move: MoveMarker, report: ReportError, delay: float) -> None:
        self.move, self.report, self.delay = move, report, delay
        self.pending: dict[tuple[int, bool], int] = {}
        self.timer: asyncio.Task | None = None

    def queue(self, room_id: int, up_to: int, *, read: bool) -> None:
        key = (room_id, read)
        self.pending[key] = max(up_to, self.pending.get(key, 0))
        if self.timer is None:
            self.timer = asyncio.ensure_future(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.delay)
        self.timer = None
        await self.flush()

    async def flush(self) -> None:
        """Moves every pending marker now; a refused move is reported, the rest still move."""
        pending, self.pending = self.pending, {}
        for (room_id, read), up_to in sorted(pending.items(), key=lambda item: not item[0][1]):
            try:
                await self.move(room_id, up_to, read)
            except DomainError as exc:
                await self.report(exc)
            except Exception as exc:
                # The database went away (or a bug): this move is reported, the others still run.
                if not database_unavailable(exc):
                    logger.exception("moving a marker failed")
                await self.report(Unavailable("This marker did not move; send it again."))

    def cancel(self) -> None:
        """Stops the timer (the connection closed); call flush() first to keep the moves."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
