"""Graceful restart: on SIGTERM, every socket is told to reconnect elsewhere (close 1012).

A rolling restart must lose no acked message and create no duplicate. On SIGTERM this
process stops taking new work, lets every connection finish the frame it is handling
(a `message.send` in flight is committed *and* acked), closes each socket with 1012,
and only then hands the signal to the server (uvicorn, daphne), which stops listening,
finishes HTTP requests and exits. The whole drain is bounded by SHUTDOWN_GRACE_SECONDS;
a socket still busy then is closed anyway (its client resends with the same client_id,
which never makes a second message).

Consumers take part through `Drainable` (a mixin placed before AsyncWebsocketConsumer);
this module keeps the registry of live connections of the process.
"""

import asyncio
import contextlib
import logging
import os
import signal
import threading

from django.conf import settings

from chatproject.closecodes import SERVICE_RESTART
from chatproject.leansync import LeanFlag
from chatproject.logging import connection_id

logger = logging.getLogger(__name__)

_live: set["Drainable"] = set()
_draining = False
_installed_loop: asyncio.AbstractEventLoop | None = None
_tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def draining() -> bool:
    """True once this process has begun shutting down (readyz answers 503)."""
    return _draining


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Takes over SIGTERM on the server's loop (once per loop), keeping the server's handler for later."""
    global _installed_loop
    if _installed_loop is loop or threading.current_thread() is not threading.main_thread():
        return
    original = signal.getsignal(signal.SIGTERM)

    def on_sigterm() -> None:
        task = loop.create_task(_drain_then_exit(loop, original))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals on this loop: nothing to drain
        return
    _installed_loop = loop


async def drain(grace: float) -> None:
    """Closes every live socket with 1012 once its current frame is done, within `grace` seconds."""
    global _draining
    _draining = True
    consumers = list(_live)
    try:
        async with asyncio.timeout(grace):
            await asyncio.gather(*(c.close_for_restart() for c in consumers), return_exceptions=True)
    except TimeoutError:
        busy = [c for c in consumers if c in _live and not c.restart_closed]
        logger.warning("shutdown grace over: closing %d busy sockets", len(busy))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1):  # time for the close frames to be written
                await asyncio.gather(*(c.close_for_restart(wait=False) for c in busy), return_exceptions=True)


async def _drain_then_exit(loop: asyncio.AbstractEventLoop, original) -> None:
    if _draining:
        return  # a second SIGTERM: the first drain is already bounded
    count = len(_live)
    started = loop.time()
    logger.info("SIGTERM: closing %d sockets with %d, then exiting", count, SERVICE_RESTART)
    await drain(settings.SHUTDOWN_GRACE_SECONDS)
    logger.info("sockets closed in %.2f s; stopping the server", loop.time() - started)
    _forget_process_metrics()
    # Give the signal back to the server: it stops listening, finishes HTTP requests, exits.
    loop.remove_signal_handler(signal.SIGTERM)
    signal.signal(signal.SIGTERM, original)
    os.kill(os.getpid(), signal.SIGTERM)


def _forget_process_metrics() -> None:
    # Several workers sharing one /metrics (PROMETHEUS_MULTIPROC_DIR): this one's live gauges go.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


class Drainable:
    """Mixin for a WebSocket consumer: registers it while open and drains it on SIGTERM.

    It relies on the consumer's `closed` flag (events for a closed consumer are
    dropped quietly) and, for log lines, on its `conn_id` once connected.
    """

    restart_closing = False
    restart_closed = False
    # Two per open socket: LeanFlag holds no deque until something waits on it.
    _idle: LeanFlag | None = None
    _gone: LeanFlag | None = None

    async def websocket_connect(self, message: dict) -> None:
        install(asyncio.get_running_loop())
        if _draining:
            # A reconnect that reached this process while it stops: try another one.
            await self.accept()
            await self.close(code=SERVICE_RESTART)
            return
        self._idle, self._gone = LeanFlag(raised=True), LeanFlag(raised=False)
        _live.add(self)
        await super().websocket_connect(message)
        connection_id.set(getattr(self, "conn_id", None))
        logger.debug("websocket connected")

    async def websocket_receive(self, message: dict) -> None:
        if self.restart_closing:
            return  # not started: the client resends it after reconnecting (same client_id)
        self._idle.clear()
        try:
            await super().websocket_receive(message)
        finally:
            self._idle.set()

    async def websocket_disconnect(self, message: dict) -> None:
        _live.discard(self)
        logger.debug("websocket closed", extra={"close_code": message.get("code")})
        if self._gone is not None:
            self._gone.set()
        await super().websocket_disconnect(message)

    async def close_for_restart(self, *, wait: bool = True) -> None:
        self.restart_closing = True
        if wait and self._idle is not None:
            await self._idle.wait()  # the frame in hand (a send: commit, then ack) finishes first
        if not self.restart_closed:
            self.restart_closed = True
            self.closed = True
            await self.close(code=SERVICE_RESTART)
        if self._gone is not None:
            # The server reports the disconnect once the close frame went out (and the
            # client answered): stopping the server before that would cut the socket.
            await self._gone.wait()
