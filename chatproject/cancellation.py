"""Cancellation that survives redis-py: for the long-running tasks of a server process."""

import asyncio


def raise_if_cancelled() -> None:
    """Re-raises a cancellation that a library call swallowed or turned into another error.

    Cancelled mid-command, a redis-py call may return normally (seen with pipelines) or
    raise a connection error instead of `CancelledError`. A retry loop that went on would
    never end, and the event loop's shutdown (a server stopping, a test finishing) would
    wait for it for ever. Each turn of such a loop, and each of its `except Exception`
    handlers, calls this first.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
