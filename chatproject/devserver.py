"""`make run`: the chat server and, when it needs one, the task worker beside it, in one command.

With Redis the worker is its own process (as in a deployment): started here beside daphne
with the same environment. Without Redis the server runs the queue in a thread of its own
(`TASK_WORKER_IN_SERVER`) and only daphne is started. Ctrl-C (or SIGTERM) stops both;
if either exits by itself, the other is stopped too and the exit status is passed on, so
`make run` never leaves a half-running chat behind.
"""

import os
import signal
import subprocess
import sys
import time

STOP_GRACE_SECONDS = 10


def commands(host: str, port: str) -> list[list[str]]:
    from django.conf import settings

    from chatproject.daphne_server import command

    server = command(host, port)  # daphne closing over-size frames with 1009
    if settings.TASK_WORKER_IN_SERVER:
        return [server]
    return [server, [sys.executable, "manage.py", "db_worker", "--no-reload", "--verbosity", "1"]]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    import django

    django.setup()
    host, port = ([*argv, "127.0.0.1", "8000"][:2]) if argv else ("127.0.0.1", "8000")
    processes = [subprocess.Popen(command) for command in commands(host, port)]
    if len(processes) > 1:
        print("  Task worker running beside the server (manage.py db_worker).", flush=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    # Also SIGINT: started in the background by a shell, a process inherits it ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while True:
            for process in processes:
                if (code := process.poll()) is not None:
                    name = "server" if process is processes[0] else "task worker"
                    print(f"  The {name} exited ({code}); stopping the rest.", file=sys.stderr, flush=True)
                    stop(processes)
                    return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop(processes)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
