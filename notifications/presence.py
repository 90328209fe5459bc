"""Presence across devices and processes.

Each process keeps a registry of its own open connections and renews their entries in
the store on one heartbeat; a sweeper in every process turns users whose entries all
expired (their process died) offline. Changes go to the rooms the user is in, once per
change: connections drop repeats of a change they already forwarded.
"""

import asyncio
import logging
import time

from django.conf import settings

from accounts.selectors import users_last_seen
from accounts.services import user_mark_seen
from chatproject.db import db_call
from chatproject.errors import FieldErrors
from chatproject.wire import wire_time, wire_time_from_unix
from notifications import events
from notifications.presence_store import AWAY, OFFLINE, ONLINE, presence_store
from notifications.wire import presence_data
from rooms.selectors import room_ids_for_user

logger = logging.getLogger(__name__)
SETTABLE = (ONLINE, AWAY)


class PresenceRegistry:
    """This process's open connections: conn id -> (user id, status)."""

    def __init__(self) -> None:
        self.conns: dict[str, tuple[int, str]] = {}
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _loop(self) -> None:
        heartbeat, sweep = settings.PRESENCE_HEARTBEAT_SECONDS, settings.PRESENCE_SWEEP_SECONDS
        next_sweep = time.monotonic() + sweep
        while True:
            await asyncio.sleep(min(heartbeat, sweep))
            try:
                await presence_store().refresh(dict(self.conns), settings.PRESENCE_TTL_SECONDS)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + sweep
                    await presence_sweep()
            except Exception:
                logger.exception("presence heartbeat failed")


_registries: dict[int, PresenceRegistry] = {}


def presence_registry() -> PresenceRegistry:
    """One registry per event loop (a server process has one)."""
    loop_id = id(asyncio.get_running_loop())
    registry = _registries.get(loop_id)
    if registry is None:
        registry = _registries[loop_id] = PresenceRegistry()
    return registry


async def _publish(user_id: int, room_ids, status: str) -> None:
    events.presence_changed(
        user_id=user_id, room_ids=room_ids, status=status, last_seen=wire_time_from_unix(time.time())
    )
    if status in (OFFLINE, ONLINE):
        await db_call(user_mark_seen)(user_id=user_id)


async def presence_connect(*, user_id: int, conn_id: str, room_ids) -> None:
    registry = presence_registry()
    registry.conns[conn_id] = (user_id, ONLINE)
    registry.ensure_running()
    changed = await presence_store().update(user_id, conn_id, ONLINE, settings.PRESENCE_TTL_SECONDS)
    if changed:
        await _publish(user_id, room_ids, changed)


async def presence_set(*, user_id: int, conn_id: str, status: str, room_ids) -> None:
    if status not in SETTABLE:
        raise FieldErrors({"status": ['Must be "online" or "away".']})
    presence_registry().conns[conn_id] = (user_id, status)
    changed = await presence_store().update(user_id, conn_id, status, settings.PRESENCE_TTL_SECONDS)
    if changed:
        await _publish(user_id, room_ids, changed)


async def presence_disconnect(*, user_id: int, conn_id: str, room_ids) -> None:
    presence_registry().conns.pop(conn_id, None)
    changed = await presence_store().update(user_id, conn_id, None, settings.PRESENCE_TTL_SECONDS)
    if changed:
        await _publish(user_id, room_ids, changed)


async def presence_sweep() -> list[int]:
    """Turns users whose processes vanished offline, telling their rooms once."""
    gone = await presence_store().sweep()
    for user_id in gone:
        rooms = await db_call(room_ids_for_user)(user_id=user_id)
        await _publish(user_id, [room_id for room_id, _, _ in rooms], OFFLINE)
    return gone


def presence_of(*, user_ids: list[int]) -> dict[str, dict]:
    """`presence/?users=`: one round trip to the store; last_seen falls back to the database."""
    found = presence_store().get_many(user_ids)
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
    return {user_id: presence.status for user_id, presence in presence_store().get_many(user_ids).items()}
