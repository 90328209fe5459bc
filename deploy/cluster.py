"""`make cluster`: the production topology on one machine, without containers.

N server processes, each started with the production command (deploy/serve.sh, one
worker each), and one task-queue worker (`manage.py db_worker`), on PostgreSQL and
Redis, behind Debian's nginx running the same proxy
configuration as docker-compose (deploy/nginx/chat.conf.template). nginx runs as a
foreground (non-daemon) process of its own, with its prefix, pid file, logs and temp
directories in the run directory. Every pid is recorded in RUN_DIR/cluster.json and
`make cluster-stop` stops exactly those processes, nothing found by name.

    python -m deploy.cluster start [--processes 2] [--port 8080] [--run-dir var/cluster]
    python -m deploy.cluster status
    python -m deploy.cluster stop
"""

import argparse
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deploy.render import render

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "chat.conf.template"
SERVE = ROOT / "deploy" / "serve.sh"
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")

NGINX_MAIN = """\
# Written by deploy/cluster.py: nginx in the foreground, everything under the run directory.
daemon off;
worker_processes 1;
{user}pid {run}/nginx.pid;
error_log {run}/logs/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format chat '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent '
                    '$request_time $upstream_addr $request_id';
    access_log {run}/logs/nginx-access.log chat;
    client_body_temp_path {run}/tmp/body;
    proxy_temp_path {run}/tmp/proxy;
    fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi;
    scgi_temp_path {run}/tmp/scgi;
    sendfile on;
    include {run}/chat.conf;
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot): with the pid, names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class Cluster:
    processes: int = 2
    port: int | None = None  # nginx; None: a free one
    run_dir: Path = ROOT / "var" / "cluster"
    env: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)
    pids: dict[str, dict] = field(default_factory=dict)
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    # --- configuration --------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def server_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def server_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
            raise SystemExit("the cluster needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL")
        var_dir = Path(env.get("VAR_DIR", ROOT / "var"))
        defaults = {
            "DEBUG": "0",
            "HTTPS": "0",  # plain HTTP on loopback; put TLS in front for anything else
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "TRUSTED_PROXIES": "127.0.0.1",
            "ATTACHMENT_X_ACCEL_PREFIX": "/_attachments/",
            "VAR_DIR": str(var_dir),
            "WEB_CONCURRENCY": "1",
            "HOST": "127.0.0.1",
        }
        env = {**defaults, **env}
        if not env.get("SECRET_KEY"):
            key_file = self.run_dir / "secret-key"
            if not key_file.exists():
                key_file.write_text(secrets.token_urlsafe(50))
                key_file.chmod(0o600)
            env["SECRET_KEY"] = key_file.read_text().strip()
        return env

    def write_nginx_config(self, env: dict[str, str]) -> None:
        var_dir = Path(env["VAR_DIR"])
        values = {
            "CHAT_LISTEN": f"127.0.0.1:{self.port}",
            "CHAT_UPSTREAMS": " ".join(f"server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in self.ports),
            "CHAT_STATIC_ROOT": str(var_dir / "staticfiles"),
            "CHAT_MEDIA_ROOT": str(var_dir / "media"),
        }
        (self.run_dir / "chat.conf").write_text(render(TEMPLATE.read_text(), values))
        # As root, nginx would hand its workers to "nobody"; they run as whoever started
        # the cluster instead, so they can read its files.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        (self.run_dir / "nginx.conf").write_text(NGINX_MAIN.format(run=self.run_dir, user=user))

    # --- starting -----------------------------------------------------------------------------
    def start(self) -> "Cluster":
        for sub in ("logs", "tmp"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        if (self.run_dir / "cluster.json").exists() and self.alive():
            raise SystemExit(f"a cluster is already running from {self.run_dir} (make cluster-stop)")
        env = self.server_env()
        Path(env["VAR_DIR"], "media").mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.ports = self.ports or [free_port() for _ in range(self.processes)]
        # The one-shot steps, as the compose file's migrate service runs them.
        for step in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--verbosity", "0"]):
            subprocess.run([sys.executable, "manage.py", *step], cwd=ROOT, env=env, check=True)
        try:
            for index in range(self.processes):
                self.start_server(index, env)
            self._spawn("worker", [sys.executable, "manage.py", "db_worker", "--no-reload"], env)
            self.write_nginx_config(env)
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.run_dir / "logs" / f"{name}.log", "ab")
        # Its own session: Ctrl-C in the shell that ran `make cluster` does not reach it.
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self.children[name] = process
        self.pids[name] = {"pid": process.pid, "start": _start_time(process.pid), "argv": argv}
        self.save()
        return process

    def start_server(self, index: int, env: dict[str, str] | None = None) -> None:
        env = {**(env or self.server_env()), "PORT": str(self.ports[index])}
        process = self._spawn(f"web-{index}", [str(SERVE)], env)
        self.pids[f"web-{index}"]["port"] = self.ports[index]
        self.save()
        _wait_http(f"{self.server_url(index)}/readyz", 60, process)

    def start_nginx(self) -> None:
        argv = [NGINX, "-p", str(self.run_dir), "-c", str(self.run_dir / "nginx.conf"), "-e", "stderr"]
        subprocess.run([*argv, "-t", "-q"], check=True)
        process = self._spawn("nginx", argv, os.environ.copy())
        _wait_http(f"{self.url}/readyz", 20, process)

    # --- the record of what runs ----------------------------------------------------------
    def save(self) -> None:
        record = {"port": self.port, "ports": self.ports, "processes": self.pids}
        (self.run_dir / "cluster.json").write_text(json.dumps(record, indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> "Cluster":
        record = json.loads((run_dir / "cluster.json").read_text())
        return cls(
            processes=len(record["ports"]),
            port=record["port"],
            run_dir=run_dir,
            ports=record["ports"],
            pids=record["processes"],
        )

    def _ours(self, name: str) -> int | None:
        """The pid of that recorded process if it is still the very process we started."""
        entry = self.pids.get(name)
        if entry and _start_time(entry["pid"]) == entry["start"]:
            return entry["pid"]
        return None

    def alive(self) -> list[str]:
        return [name for name in self.pids if self._ours(name) is not None]

    # --- stopping -----------------------------------------------------------------------------
    def terminate(self, name: str, timeout: float = 30) -> float | None:
        """SIGTERM one recorded process and wait for it; returns how long it took to exit."""
        pid = self._ours(name)
        if pid is None:
            return None
        started = time.monotonic()
        os.kill(pid, signal.SIGQUIT if name == "nginx" else signal.SIGTERM)  # nginx: graceful quit
        child = self.children.pop(name, None)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if child is not None:
                if child.poll() is not None:
                    break
            elif self._ours(name) is None:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            if child is not None:
                child.wait()
        return time.monotonic() - started

    def restart_server(self, index: int) -> float | None:
        """A rolling restart's step: SIGTERM that process, wait for it to exit, start it again."""
        took = self.terminate(f"web-{index}")
        self.start_server(index)
        return took

    def stop(self) -> None:
        # Servers first: their clients get 1012 and reconnect; then nginx.
        for name in [n for n in self.pids if n != "nginx"] + ["nginx"]:
            self.terminate(name)
        record = self.run_dir / "cluster.json"
        if record.exists():
            record.unlink()

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--processes", type=int, default=int(os.environ.get("CLUSTER_PROCESSES", 2)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", 0)) or None)
    parser.add_argument("--run-dir", type=Path, default=Path(os.environ.get("CLUSTER_DIR", ROOT / "var" / "cluster")))
    args = parser.parse_args(argv)
    run_dir = args.run_dir.resolve()
    if args.command == "start":
        cluster = Cluster(processes=args.processes, port=args.port, run_dir=run_dir).start()
        print(f"cluster: {cluster.url}/ -> {', '.join(map(str, cluster.ports))}; logs in {run_dir}/logs")
        print("stop it with: make cluster-stop")
        return
    if not (run_dir / "cluster.json").exists():
        print(f"no cluster recorded in {run_dir}")
        return
    cluster = Cluster.load(run_dir)
    if args.command == "status":
        for name in cluster.pids:
            state = "running" if cluster._ours(name) else "gone"
            print(f"{name}: pid {cluster.pids[name]['pid']} {state}")
        return
    cluster.stop()
    print("cluster stopped")


if __name__ == "__main__":
    main()
