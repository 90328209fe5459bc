"""Presence across devices and processes.

Each process keeps a registry of its own open connections and renews their entries in
the store on one heartbeat; a sweeper in every process turns users whose entries all
expired (their process died) offline. Changes go to the rooms the user is in, once per
change: connections drop repeats of a change they already forwarded.
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from django.conf import settings

from accounts.selectors import users_last_seen
from accounts.services import user_mark_seen
from chatproject.cancellation import raise_if_cancelled
from chatproject.db import db_call
from chatproject.errors import FieldErrors
from chatproject.metrics import EVENTS_DROPPED as DROPPED
from chatproject.metrics import PRESENCE_STORE_ERRORS
from chatproject.wire import wire_time, wire_time_from_unix
from notifications import events
from notifications.presence_store import AWAY, OFFLINE, ONLINE, Presence, presence_store
from notifications.wire import presence_data
from rooms.selectors import room_ids_for_user

logger = logging.getLogger(__name__)
SETTABLE = (ONLINE, AWAY)


class PresenceRegistry:
    """This process's open connections (conn id -> (user id, status)) and their queued store updates.

    Connects, status changes and disconnects go to the store through one queue, in order,
    a chunk per round trip: when a thousand sockets close within a second (the end of a
    load run, a proxy restart), that is five pipelined calls, not a thousand callers
    waiting for a pooled Redis connection. A store that is down loses only those
    updates: presence degrades (the heartbeat writes the live connections again once it
    is back), it never refuses a connection.
    """

    def __init__(self) -> None:
        self.conns: dict[str, tuple[int, str]] = {}
        self.task: asyncio.Task | None = None
        self.pending: deque[tuple[_Change, asyncio.Future]] = deque()
        self.flusher: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def submit(self, change: "_Change") -> asyncio.Future:
        """Queues a store update; the future resolves (never fails) once its chunk is written."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((change, future))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.ensure_future(self._flush())
        return future

    async def _flush(self) -> None:
        while self.pending:
            batch = [self.pending.popleft() for _ in range(min(UPDATE_CHUNK, len(self.pending)))]
            try:
                results = await presence_store().update_many(
                    [(c.user_id, c.conn_id, c.status) for c, _ in batch], settings.PRESENCE_TTL_SECONDS
                )
            except Exception as exc:  # Redis down or restarting: degrade, keep serving
                raise_if_cancelled()
                store_unavailable(exc, len(batch))
                results = [None] * len(batch)
            seen = []
            for (change, future), changed in zip(batch, results, strict=True):
                if changed:
                    _publish(change.user_id, change.room_ids, changed)
                    if changed in (OFFLINE, ONLINE):
                        seen.append(change.user_id)
                if not future.done():
                    future.set_result(changed)
            await _mark_seen(seen)

    async def _loop(self) -> None:
        heartbeat, sweep = settings.PRESENCE_HEARTBEAT_SECONDS, settings.PRESENCE_SWEEP_SECONDS
        next_sweep = time.monotonic() + sweep
        while True:
            raise_if_cancelled()
            await asyncio.sleep(min(heartbeat, sweep))
            try:
                await presence_store().refresh(dict(self.conns), settings.PRESENCE_TTL_SECONDS)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + sweep
                    await presence_sweep()
            except Exception as exc:
                raise_if_cancelled()
                store_unavailable(exc, 0)


@dataclass(frozen=True)
class _Change:
    user_id: int
    conn_id: str
    status: str | None  # None: the connection closed
    room_ids: tuple[int, ...]


UPDATE_CHUNK = 200
_last_warning = 0.0


def store_unavailable(exc: Exception, lost: int) -> None:
    """Counts a failed store call; one log line (no traceback) per 10 s, not one per socket."""
    global _last_warning
    PRESENCE_STORE_ERRORS.inc()
    if lost:
        DROPPED.labels("presence_unavailable").inc(lost)
    now = time.monotonic()
    if now - _last_warning >= 10:
        _last_warning = now
        logger.warning("presence store unavailable (%s: %s); presence degrades", type(exc).__name__, exc)


_registries: dict[int, PresenceRegistry] = {}


def presence_registry() -> PresenceRegistry:
    """One registry per event loop (a server process has one)."""
    loop_id = id(asyncio.get_running_loop())
    registry = _registries.get(loop_id)
    if registry is None:
        registry = _registries[loop_id] = PresenceRegistry()
    return registry


def _publish(user_id: int, room_ids, status: str) -> None:
    try:
        events.presence_changed(
            user_id=user_id, room_ids=room_ids, status=status, last_seen=wire_time_from_unix(time.time())
        )
    except Exception as exc:  # the channel layer is down: a presence frame is a hint
        store_unavailable(exc, 1)


async def _mark_seen(user_ids: list[int]) -> None:
    for user_id in user_ids:
        try:
            await db_call(user_mark_seen)(user_id=user_id)
        except Exception:  # the database is away; last_seen is a hint, the store has it too
            logger.warning("saving last_seen of %d users failed", len(user_ids), exc_info=True)
            return


async def presence_connect(*, user_id: int, conn_id: str, room_ids) -> None:
    """Records the connection before `hello`; if the store is down, the socket connects all the same."""
    registry = presence_registry()
    registry.conns[conn_id] = (user_id, ONLINE)
    registry.ensure_running()
    await registry.submit(_Change(user_id, conn_id, ONLINE, tuple(room_ids)))


async def presence_set(*, user_id: int, conn_id: str, status: str, room_ids) -> None:
    if status not in SETTABLE:
        raise FieldErrors({"status": ['Must be "online" or "away".']})
    registry = presence_registry()
    registry.conns[conn_id] = (user_id, status)
    await registry.submit(_Change(user_id, conn_id, status, tuple(room_ids)))


async def presence_disconnect(*, user_id: int, conn_id: str, room_ids) -> None:
    """Waits for its chunk (one pipelined call shared with every socket closing meanwhile), never fails."""
    registry = presence_registry()
    registry.conns.pop(conn_id, None)
    await registry.submit(_Change(user_id, conn_id, None, tuple(room_ids)))


async def presence_sweep() -> list[int]:
    """Turns users whose processes vanished offline, telling their rooms once."""
    gone = await presence_store().sweep()
    for user_id in gone:
        rooms = await db_call(room_ids_for_user)(user_id=user_id)
        _publish(user_id, [room_id for room_id, _, _ in rooms], OFFLINE)
    await _mark_seen(gone)
    return gone


def presence_of(*, user_ids: list[int]) -> dict[str, dict]:
    """`presence/?users=`: one round trip to the store; last_seen falls back to the database."""
    found = _get_many(user_ids)
    missing = [uid for uid, p in found.items() if p.last_seen is None]
    fallback = users_last_seen(user_ids=missing) if missing else {}
    result = {}
    for user_id, presence in found.items():
        last_seen = wire_time_from_unix(presence.last_seen) or wire_time(fallback.get(user_id))
        result[str(user_id)] = presence_data(status=presence.status, last_seen=last_seen)
    return result


def presence_statuses(*, user_ids: list[int]) -> dict[int, str]:
    """Each user's status alone (pages, the user admin): one round trip to the store."""
    if not user_ids:
        return {}
    return {user_id: presence.status for user_id, presence in _get_many(user_ids).items()}


def _get_many(user_ids: list[int]) -> dict[int, Presence]:
    """From the store; with the store down, everyone reads as offline (last_seen from the
    database): pages and apps still work, they only cannot tell who is online right now."""
    try:
        return presence_store().get_many(user_ids)
    except Exception as exc:
        store_unavailable(exc, 0)
        return {user_id: Presence(OFFLINE, None) for user_id in user_ids}
