"""What the reliability scenarios break: their own redis-server, a TCP proxy before PostgreSQL, server processes.

Nothing here touches the machine's own services: Redis is a `redis-server` of ours on a
free port, PostgreSQL is reached through a proxy we can cut, and every process started
is stopped (only by its own pid) when the scenario ends.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from chatproject.testing import ServerProcess, database_url_for_tests, free_port


class RedisServer:
    """A private redis-server on a free loopback port; `kill()` is a crash (SIGKILL), `start()` brings it back."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "RedisServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    stop = kill


class TcpProxy:
    """A loopback TCP proxy on its own thread and event loop, in front of one upstream port.

    `cut()` aborts every connection through it and refuses new ones (what a database
    restart or a network partition looks like to the server); `restore()` lets them in again.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.open = True
        self.transports: set[asyncio.Transport] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tcp-proxy", daemon=True)
        self.server: asyncio.base_events.Server | None = None

    def start(self) -> "TcpProxy":
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.port), self.loop
        ).result(5)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self.transports.update(pair)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.transports.difference_update(pair)
            for transport in pair:
                transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    def _cut(self) -> int:
        self.open = False
        cut = list(self.transports)
        for transport in cut:
            transport.abort()
        return len(cut) // 2

    def cut(self) -> int:
        """Aborts every connection and refuses new ones; returns how many connections were cut."""

        async def cut() -> int:
            return self._cut()

        return asyncio.run_coroutine_threadsafe(cut(), self.loop).result(5)

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        async def shutdown() -> None:
            self._cut()
            if self.server is not None:
                self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def proxied_database_url(proxy: TcpProxy) -> str:
    """The test database's URL, through the proxy."""
    parts = urlsplit(database_url_for_tests())
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{userinfo}127.0.0.1:{proxy.port}"))


# Small timings so that what the suite waits for (a presence TTL) fits its time budget.
FAST_PRESENCE = {"PRESENCE_TTL_SECONDS": "4", "PRESENCE_HEARTBEAT_SECONDS": "1", "PRESENCE_SWEEP_SECONDS": "1"}


class Server:
    """One server process of a scenario, with the log it writes (audited at the end)."""

    def __init__(self, kind: str, env: dict[str, str], log: Path) -> None:
        self.kind = kind
        self.log = log
        self.process = ServerProcess(env, server=kind, log=log)

    def start(self) -> "Server":
        self.process.start(timeout=60)
        return self

    @property
    def pid(self) -> int:
        return self.process.process.pid

    @property
    def http(self) -> str:
        return self.process.http

    @property
    def ws(self) -> str:
        return self.process.ws

    def running(self) -> bool:
        return self.process.process is not None and self.process.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM (a rolling restart): the server finishes what it can and exits."""
        self.process.process.send_signal(signal.SIGTERM)
        try:
            self.process.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.process.kill()
            self.process.process.wait()
        self.process.process = None

    def crash(self) -> None:
        """SIGKILL: no disconnect handler runs, no goodbye."""
        self.process.process.send_signal(signal.SIGKILL)
        self.process.process.wait()
        self.process.process = None

    def stop(self) -> None:
        self.process.stop()

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))

    def get(self, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, bytes]:
        request = urllib.request.Request(self.http + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def metric(self, name: str, **labels: str) -> float:
        """One sample of this process's /metrics (0 when absent)."""
        _, body = self.get("/metrics")
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(wanted + " ") or (not labels and line.startswith(name + " ")):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def server_env(*, database_url: str | None, redis_url: str | None, prefix: str, **extra: str) -> dict[str, str]:
    """A server's environment; an empty DATABASE_URL / REDIS_URL means the embedded SQLite / in-memory layer."""
    return {
        "DATABASE_URL": database_url or "",
        "REDIS_URL": redis_url or "",
        "CACHE_PREFIX": prefix,
        "CHANNEL_PREFIX": prefix,
        # Registration in the schema run hashes passwords: cheap Argon2 keeps it quick.
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8",
        "ARGON2_PARALLELISM": "1",
        "LOG_LEVEL": "INFO",
        "DB_POOL_MAX": "12",
        **extra,
    }


def embedded_site(var_dir: Path, users: int = 2) -> dict:
    """An embedded (SQLite) site in `var_dir`: migrated, with users in one public room and their tokens.

    Made by a child process, because the test process is bound to PostgreSQL; the tokens
    are signed with that site's own development secret, which its server will use too.
    """
    import json
    import sys

    from chatproject.testing import ROOT

    env = {**os.environ, "VAR_DIR": str(var_dir), "DATABASE_URL": "", "REDIS_URL": "", "DEBUG": "1"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    script = f"""
import json
from accounts.tests.factories import access_token, create_user
from rooms import services
users = [create_user(f"emb{{i}}") for i in range({users})]
room = services.room_create(creator=users[0], name="embedded", kind="public")
for user in users[1:]:
    services.room_join(user=user, room_id=room.pk)
print(json.dumps({{"room": room.pk, "users": [u.pk for u in users], "tokens": [access_token(u) for u in users]}}))
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
