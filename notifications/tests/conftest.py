import pytest

from notifications import presence, presence_store


@pytest.fixture(autouse=True)
def _fresh_presence():
    presence_store._memory_store.entries.clear()
    presence_store._memory_store.last_seen.clear()
    yield
    for registry in presence._registries.values():
        registry.stop()
    presence._registries.clear()
