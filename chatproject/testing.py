"""A real server process for tests that cross process boundaries (and browsers)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from chatproject.daphne_server import command as daphne_command

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_tests() -> str:
    """The URL of the database the running tests use (the test database, not the real one)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("server processes share the database only on PostgreSQL")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


SERVERS = ("daphne", "uvicorn")
# The servers refuse a bigger WebSocket message themselves, closing with 1009 (the contract);
# daphne as `make run` starts it, uvicorn with the production command's flags (deploy/serve.sh).
MAX_MESSAGE = str(settings.WS_MAX_FRAME_BYTES)
# uvicorn's WebSocket protocol: "uvicorn" ours, as deploy/serve.sh runs it; "uvicorn-stock" uvicorn's
# own default (what a bare `uvicorn chatproject.asgi:application` gets); "uvicorn-legacy" its
# older `websockets` protocol.
UVICORN_WS = {
    "uvicorn": "chatproject.uvicorn_ws:LeanWebSocketProtocol",
    "uvicorn-stock": "websockets-sansio",
    "uvicorn-legacy": "websockets",
}


def server_command(server: str, port: int) -> list[str]:
    """The command line of `make run`'s server (daphne) or the production one (uvicorn)."""
    app = "chatproject.asgi:application"
    if server == "daphne":
        return daphne_command("127.0.0.1", port, app)  # daphne, sending 1009 rather than dropping the connection
    if server in UVICORN_WS:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            UVICORN_WS[server],
            "--ws-max-size",
            MAX_MESSAGE,
            "--ws-per-message-deflate",  # as deploy/serve.sh: no zlib context per socket
            "false",
            # X-Forwarded-For is judged by the application against TRUSTED_PROXIES
            # (chatproject/clientaddr.py), the same way under daphne.
            "--no-proxy-headers",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            app,
        ]
    raise ValueError(f"unknown server {server!r}")


class ServerProcess:
    """An ASGI server (daphne or uvicorn) serving chatproject on a loopback port."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        port: int | None = None,
        log: Path | None = None,
        server: str = "daphne",
    ) -> None:
        self.server = server
        self.port = port or free_port()
        self.env = env or {}
        # Where the server's stderr goes. A pipe nobody reads fills up and stalls a chatty
        # server (a browser test makes many requests), so long-running tests pass a file.
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self, timeout: float = 30) -> "ServerProcess":
        env = {**os.environ, "DEBUG": "1", "THROTTLE_DISABLED": "1", **self.env}
        stderr = open(self.log, "ab") if self.log else subprocess.PIPE  # the child keeps its own copy
        self.process = subprocess.Popen(
            server_command(self.server, self.port),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        if self.log:
            stderr.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_bytes() if self.log else self.process.stderr.read()
                raise RuntimeError(f"server exited: {output.decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.http}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def worker_command() -> list[str]:
    """The task worker as a deployment runs it (see chatproject/tasks.py), polling fast for tests."""
    return [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2"]


class WorkerProcess:
    """The real task worker (`manage.py db_worker`) as its own process, on the given environment."""

    def __init__(self, env: dict[str, str] | None = None, log: Path | None = None) -> None:
        self.env = env or {}
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        env = {**os.environ, "DEBUG": "1", **self.env}
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(worker_command(), cwd=ROOT, env=env, stdout=output, stderr=output)
        if self.log:
            output.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()  # the worker finishes its current task, then exits
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
