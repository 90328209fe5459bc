"""Sends that arrive together share one transaction: group commit, one level above PostgreSQL's.

Every WebSocket send of a process goes through its event loop's `SendBatcher`. A send
starts a batch at once while fewer than SEND_BATCHES_IN_FLIGHT batches are running, so
a send on a quiet server waits for nothing; the sends that arrive while batches run
gather and go together in the next one: one thread hop, one round trip, one commit
(services.message_send_many). Under load the batches grow instead of the queue of
threads each waiting for its own WAL flush, and each send still gets exactly the
answer message_send would give it.

One connection's sends never overtake each other: a consumer handles its frames one at
a time, so a socket has at most one send here.
"""

import asyncio
import weakref

from django.conf import settings

from chatproject.db import db_call
from chatproject.metrics import SEND_BATCH_SIZE
from chatproject.outbox import spawn
from messaging import services
from messaging.services import SendRequest, SendResult

_batchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendBatcher]" = weakref.WeakKeyDictionary()


class SendBatcher:
    def __init__(self, *, in_flight: int, max_size: int) -> None:
        self.in_flight, self.max_size = in_flight, max_size
        self.waiting: list[tuple[SendRequest, asyncio.Future]] = []
        self.running = 0

    async def send(self, request: SendRequest) -> SendResult:
        """Stores one send with whatever sends arrive with it; raises what message_send would."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.running < self.in_flight:
            self._start()
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _start(self) -> None:
        batch, self.waiting = self.waiting[: self.max_size], self.waiting[self.max_size :]
        self.running += 1
        SEND_BATCH_SIZE.observe(len(batch))
        spawn(self._run(batch))

    async def _run(self, batch: list[tuple[SendRequest, asyncio.Future]]) -> None:
        try:
            outcomes = await db_call(services.message_send_many)([request for request, _ in batch])
        except Exception as exc:  # the batch as a whole failed (the database is down): every send hears it
            outcomes = [exc] * len(batch)
        except BaseException:  # the loop is shutting down: nobody waits for an answer
            for _, future in batch:
                future.cancel()
            raise
        finally:
            self.running -= 1
            if self.waiting and self.running < self.in_flight:
                self._start()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its socket may have gone meanwhile
                future.set_result(outcome)


def send_batcher() -> SendBatcher:
    """This event loop's batcher (each test, and each server process, has its own loop)."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = SendBatcher(
            in_flight=settings.SEND_BATCHES_IN_FLIGHT, max_size=settings.SEND_BATCH_MAX
        )
    return batcher
