"""Django's ASGI handler, with each request's sync code in one hop, on a thread kept for later requests.

Two costs of Django's handler, measured on REST sends (docs/benchmarks.md, scenario D):

- It enters a fresh `ThreadSensitiveContext` per request, and asgiref starts a new thread
  for each such context and joins it afterwards. asgiref (3.10+) lets a context use an
  executor its caller owns, so each request borrows a one-thread executor from a free
  list here and gives it back after: all sync code of one request still runs on one
  thread (what thread-sensitive means), and the threads live on.
- Under ASGI the innermost handler is async, so a sync middleware stack (ours, see
  chatproject/middleware.py) hops from the loop to the thread for the middleware, back
  to the loop to resolve the URL, to the thread for the view, and back twice more. Here
  the whole stack, URL resolution and view included, is built sync and runs in one hop.
  Async views still work: Django runs them with async_to_sync from the sync stack.
"""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

IDLE_THREADS_KEPT = 32  # more idle than this (after a burst) are let go


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

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
