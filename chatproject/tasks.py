"""The task queue: django-tasks with its database backend (django-tasks-db).

Work that need not hold up a request (thumbnails, file clean-up, notification fan-out to
large rooms) is a `@task` in its app's `tasks.py` and runs in a worker:

- as its own process: `python manage.py db_worker --no-reload` (what a
  deployment runs, one or more of them; `make run` starts one beside the server when the
  server has Redis), or
- as a thread inside the server process (`TASK_WORKER_IN_SERVER`, the default without
  Redis): without Redis a worker process could not reach this process's sockets to say
  that a thumbnail is ready, and the embedded default is one process anyway.

The queue is a table in the project's own database, so it needs no broker, and a task
enqueued inside a transaction is committed, or rolled back, together with the data it is
about: nothing runs for a message that was never stored, and nothing is lost between the
commit and the enqueue.
"""

import logging
import os
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from chatproject.db import database_unavailable

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Enqueues `task` as part of the caller's transaction (after commit for a non-database backend)."""
    from django_tasks_db import DatabaseBackend

    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(*args, **kwargs)
    else:
        transaction.on_commit(lambda: task.enqueue(*args, **kwargs))


_started = threading.Event()


def start_worker_thread(interval: float = 1.0) -> None:
    """Runs the database worker in a daemon thread of this process (once), restarting it if it dies."""
    if _started.is_set():
        return
    _started.set()
    from django_tasks_db.management.commands.db_worker import Worker

    def run() -> None:
        while True:
            worker = Worker(
                queue_names=["default"],
                excluded_queue_names=[],
                interval=interval,
                batch=False,
                backend_name="default",
                startup_delay=False,
                max_tasks=None,
                worker_id=f"server-{os.getpid()}-{threading.get_ident()}"[:64],
            )
            try:
                worker.run()  # signals stay the server's: this thread never installs handlers
            except Exception as exc:
                if database_unavailable(exc):  # expected during an outage: one line, no traceback
                    logger.warning("In-process task worker: database unavailable (%s); retrying in 5 s", exc)
                else:
                    logger.exception("In-process task worker failed; restarting in 5 s")
                time.sleep(5)

    threading.Thread(target=run, name="task-worker", daemon=True).start()


def enqueue_by(task: Any, due: datetime, *args: Any) -> None:
    """Enqueues `task` to run once `due` has passed, at the next full hour after it.

    Tasks of the same kind due within one hour share one run (one row however many calls),
    and that run never comes before the moment it was asked for: made for sweeps such as
    the attachment clean-up, which do everything that is due whenever they run.
    """
    from django_tasks_db.models import DBTaskResult

    run_after = (due + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    waiting = DBTaskResult.objects.filter(task_path=task.module_path, status="READY", run_after=run_after)
    if not waiting.exists():
        enqueue(task.using(run_after=run_after), *args)
