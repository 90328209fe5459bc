"""The presence store on its own, in memory and on real Redis: aggregation over a user's
connections, expiry of a dead process's entries, the heartbeat, and a sweep that reports
each vanished user exactly once however many processes sweep."""

import asyncio
import os

import pytest
from django.conf import settings

from conftest import needs_services
from notifications.presence_store import AWAY, OFFLINE, ONLINE, MemoryPresenceStore, RedisPresenceStore

pytestmark = pytest.mark.asyncio


def _redis_store(prefix: str) -> RedisPresenceStore:
    return RedisPresenceStore(settings.REDIS_URL, prefix)


@pytest.fixture(params=["memory", "redis"])
async def stores(request):
    """make() returns a store; on Redis each call is another process sharing the same keys."""
    if request.param == "memory":
        store = MemoryPresenceStore()
        yield lambda: store
        return
    needs_services(redis=True)
    prefix = f"{settings.CACHE_PREFIX}:test-presence:{os.urandom(4).hex()}"
    made: list[RedisPresenceStore] = []

    def make() -> RedisPresenceStore:
        made.append(_redis_store(prefix))
        return made[-1]

    yield make
    keys = made[0].sync_client.keys(f"{prefix}:*") if made else []
    if keys:
        made[0].sync_client.delete(*keys)  # only this test's keys: the server is shared
    for store in made:
        await store.client.aclose()
        store.sync_client.close()


async def test_a_user_is_online_while_any_connection_says_so(stores):
    store = stores()
    assert await store.update(1, "phone", ONLINE, 30) == ONLINE
    assert await store.update(1, "laptop", ONLINE, 30) is None  # no change: nothing to tell
    assert await store.update(1, "phone", AWAY, 30) is None  # the laptop is still online
    assert await store.update(1, "laptop", AWAY, 30) == AWAY
    assert await store.update(1, "laptop", ONLINE, 30) == ONLINE
    assert await store.update(1, "laptop", None, 30) == AWAY  # the phone is away
    assert await store.update(1, "phone", None, 30) == OFFLINE
    found = store.get_many([1, 2])
    assert (found[1].status, found[2].status) == (OFFLINE, OFFLINE)
    assert found[1].last_seen is not None  # when the last connection went
    assert found[2].last_seen is None  # never seen


async def test_entries_of_a_dead_process_expire_and_are_swept_once(stores):
    first, second = stores(), stores()
    await first.update(1, "phone", ONLINE, 1)
    await first.update(2, "laptop", ONLINE, 30)
    assert store_status(second, 1) == ONLINE
    await asyncio.sleep(1.5)  # the phone's process died: nobody renewed its entry
    assert store_status(second, 1) == OFFLINE
    swept = [await first.sweep(), await second.sweep()]
    assert sorted(swept, key=len) == [[], [1]]  # reported offline by exactly one sweeper
    assert await first.sweep() == []
    assert store_status(first, 2) == ONLINE


async def test_the_heartbeat_keeps_live_connections_online(stores):
    store = stores()
    await store.update(1, "phone", ONLINE, 1)
    await store.update(2, "tablet", ONLINE, 1)
    await store.refresh({"phone": (1, AWAY)}, 30)  # this process still holds the phone, now away
    await asyncio.sleep(1.5)
    assert store_status(store, 1) == AWAY
    assert await store.sweep() == [2]


def store_status(store, user_id: int) -> str:
    return store.get_many([user_id])[user_id].status
