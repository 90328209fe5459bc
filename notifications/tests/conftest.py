import pytest

from notifications import presence, presence_store


@pytest.fixture(autouse=True)
def _fresh_presence():
    presence_store._memory_store.entries.clear()
    presence_store._memory_store.last_seen.clear()
    yield
    for hub in presence._hubs.values():
        hub.stop()
    presence._hubs.clear()
