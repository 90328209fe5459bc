"""asyncio's Queue and Event as far as one connection uses them, without their deques.

An `asyncio.Event` holds a deque (about 0.7 KiB) and an `asyncio.Queue` three deques and
an Event, whether anyone waits or not. Multiplied by every open socket that is a good
part of what an idle connection costs; these hold an empty list until something waits.
"""

import asyncio
from typing import Any


class Waiters:
    """Futures of the coroutines waiting for something; an empty list when none wait."""

    __slots__ = ("futures",)

    def __init__(self) -> None:
        self.futures: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        try:
            await future
        finally:
            if future in self.futures:  # cancelled while waiting
                self.futures.remove(future)

    def wake_one(self) -> None:
        while self.futures:
            future = self.futures.pop(0)
            if not future.done():
                future.set_result(None)
                return

    def wake_all(self) -> None:
        futures, self.futures = self.futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)


class LeanInbox:
    """An unbounded `asyncio.Queue` as far as `put_nowait`, `get` and `empty` go."""

    __slots__ = ("getters", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.getters = Waiters()

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)
        self.getters.wake_one()

    async def get(self) -> Any:
        while not self.items:
            await self.getters.wait()
        return self.items.pop(0)

    def empty(self) -> bool:
        return not self.items


class LeanFlag:
    """`asyncio.Event`'s set, clear, is_set and wait."""

    __slots__ = ("raised", "waiters")

    def __init__(self, raised: bool = True) -> None:
        self.raised = raised
        self.waiters = Waiters()

    def is_set(self) -> bool:
        return self.raised

    def set(self) -> None:
        self.raised = True
        self.waiters.wake_all()

    def clear(self) -> None:
        self.raised = False

    async def wait(self) -> None:
        while not self.raised:
            await self.waiters.wait()
