"""Start/stop the servers under test (daphne pinned with taskset) and their databases."""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_URL_BASE = os.environ.get("BENCH_PG_BASE", "postgres://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
# Engineers sharing one PostgreSQL run the harness side by side under different prefixes.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "bench")


@dataclass
class ServerSpec:
    """How to run one kind of server."""

    name: str
    app: str
    db_name: str
    redis_db: int
    settings_module: str | None = None  # None: the project's manage.py default
    extra_env: dict[str, str] = field(default_factory=dict)
    server: str = "daphne"  # or "uvicorn" (uvloop, httptools, websockets)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONPATH")}
        env.update(
            DATABASE_URL=f"{PG_URL_BASE}/{self.db_name}",
            REDIS_URL=f"{REDIS_BASE}/{self.redis_db}",
            DEBUG="0",
            SECRET_KEY=_SECRET,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            THROTTLE_DISABLED="1",
            HTTPS="0",  # plain http on loopback: no SSL redirect / HSTS
            PYTHONUNBUFFERED="1",
        )
        if self.settings_module:
            env["DJANGO_SETTINGS_MODULE"] = self.settings_module
        env.update(self.extra_env)
        return env

    def migrate_cmd(self) -> list[str]:
        if self.settings_module:
            return [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"]
        return [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]


_SECRET = secrets.token_urlsafe(48)


def ours_spec() -> ServerSpec:
    # A cheap Argon2 cost: setup logs in ~1000 users; the default cost would take minutes.
    cheap_logins = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "ARGON2_PARALLELISM": "1"}
    return ServerSpec("ours", "chatproject.asgi:application", f"{DB_PREFIX}_chat", 11, extra_env=cheap_logins)


def ours_uvicorn_spec() -> ServerSpec:
    spec = ours_spec()
    spec.name, spec.server = "ours-uvicorn", "uvicorn"
    return spec


def reference_spec(persist: bool) -> ServerSpec:
    return ServerSpec(
        "reference+pg" if persist else "reference",
        "bench.reference.asgi:application",
        f"{DB_PREFIX}_reference",
        12,
        settings_module="bench.reference.settings",
        extra_env={"REFERENCE_PERSIST": "1" if persist else "0"},
    )


def reset_database(db_name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')


def drop_database(db_name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def flush_redis(db: int) -> None:
    client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def taskset_prefix(cores: str | None) -> list[str]:
    return ["taskset", "-c", cores] if cores else []


class ServerProc:
    def __init__(self, spec: ServerSpec, port: int, cores: str | None, logdir: Path, cwd: Path = REPO) -> None:
        self.spec = spec
        self.cwd = cwd  # another checkout, to measure an older design beside this one
        self.port = port
        self.cores = cores
        self.logpath = logdir / f"{spec.name}-{port}.log"
        if spec.server == "uvicorn":
            server = [str(VENV_BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port)]
            server += ["--ws", "chatproject.uvicorn_ws:LeanWebSocketProtocol"]  # as deploy/serve.sh
            server += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
            server += ["--ws-per-message-deflate", "false"]  # as deploy/serve.sh
            self.cmd = [*taskset_prefix(cores), *server, spec.app]
        else:
            self.cmd = [*taskset_prefix(cores), str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), spec.app]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid  # taskset exec()s daphne, so this is daphne's pid

    def command_line(self) -> str:
        return shlex.join(self.cmd)

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.spec.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        _LIVE.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited early; log:\n{self.tail_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.spec.name} did not listen on {self.port} within {timeout}s")

    def tail_log(self, n: int = 40) -> str:
        try:
            return "\n".join(self.logpath.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self in _LIVE:
            _LIVE.remove(self)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the server was started in its own session
    except ProcessLookupError:
        pass


def prepare(spec: ServerSpec, logdir: Path) -> str:
    """Fresh database + Redis db, then migrations. Returns the migrate command line."""
    reset_database(spec.db_name)
    flush_redis(spec.redis_db)
    cmd = spec.migrate_cmd()
    res = subprocess.run(cmd, cwd=REPO, env=spec.env(), capture_output=True, text=True, timeout=300)
    (logdir / f"{spec.name}-migrate.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        raise RuntimeError(f"migrate failed for {spec.name}:\n{res.stdout}\n{res.stderr}")
    checkpoint()
    return shlex.join(cmd)


def checkpoint() -> None:
    """Writes PostgreSQL's dirty pages out now, before a measurement starts.

    Dropping and creating the database and migrating it leave megabytes to flush; a
    checkpoint doing that during the first steps made commits (and so p99) wait for the
    disk by up to a second, a cost of the harness, not of the server measured.
    """
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


_LIVE: list[ServerProc] = []


def stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so `finally: stop_all()` runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)
