"""Running ORM calls from async code (the WebSocket door) without serializing them.

Channels' `database_sync_to_async` is thread-sensitive: every socket of a process shares
one worker thread, so one slow commit (a WAL flush) holds up every other socket's
send. Our services need no thread affinity (each call is one short transaction), so
they run on a pool of threads; concurrent commits then overlap and PostgreSQL groups
their flushes.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.DB_THREADS, thread_name_prefix="db")
    return _executor


def db_call(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like database_sync_to_async, on the shared pool; each call closes stale connections."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_pool())


def database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the database is unreachable" (not a bug): a door answers `unavailable`."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # SQLite only
        return False
    return isinstance(exc, psycopg_pool.PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError)
