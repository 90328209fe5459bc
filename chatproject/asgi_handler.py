"""Django's ASGI handler, with each request's sync code on a thread kept for later requests.

Django enters a fresh `ThreadSensitiveContext` per request, and asgiref starts a new
thread for each such context and joins it afterwards: per REST request a thread start,
a thread join and a cold thread-local database connection. asgiref (3.10+) lets a
context use an executor its caller owns, so each request borrows a one-thread executor
from a free list here and gives it back after: all sync code of one request still runs
on one thread (what thread-sensitive means), and the threads live on.
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler

IDLE_THREADS_KEPT = 32  # more idle than this (after a burst) are let go


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # A view still running for a client that went away keeps the thread a while;
            # the next request given this executor queues behind it, as one thread must.
            if len(self._idle) < IDLE_THREADS_KEPT:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)
