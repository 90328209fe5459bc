"""Scenario P of `make bench`: the production command, two processes behind nginx vs one direct.

In one run, on one fresh database, with one load shape (scenario A's: rooms of 10, one
sender per room, the total rate stepped up):
  1. one process started with deploy/serve.sh (uvicorn, WEB_CONCURRENCY=1), clients direct;
  2. the `make cluster` topology: two such processes behind Debian's nginx with the
     shared proxy configuration, clients through nginx.
It reports sends/s (the highest step with nothing lost and p99 under --p99-ms) and p99
per step, and writes them into docs/benchmarks.md between markers (bench.run rewrites
that file, so `make bench` runs this after it).

    python -m bench.proxy [--p-rates 50,100,200,400] [--report docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.report import machine_info
from bench.servers import PG_ADMIN_DSN, PG_URL_BASE, REDIS_BASE, REPO, flush_redis, free_port, prepare
from bench.servers import ours_uvicorn_spec as base_spec
from deploy.cluster import Cluster

START, END = "<!-- bench.proxy:start -->", "<!-- bench.proxy:end -->"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__.split("\n\n")[0])
    p.add_argument("--p-rates", default="50,100,200,300,400,600")
    p.add_argument("--conns", type=int, default=200)
    p.add_argument("--rooms", type=int, default=20)
    p.add_argument("--step-seconds", type=float, default=6.0)
    p.add_argument("--p99-ms", type=float, default=100.0)
    p.add_argument("--db-name", default=os.environ.get("BENCH_PROXY_DB", "bench_proxy"))
    p.add_argument("--redis-db", type=int, default=int(os.environ.get("BENCH_PROXY_REDIS_DB", 13)))
    p.add_argument("--report", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--workdir", type=Path)
    return p.parse_args(argv)


def loadgen(args: argparse.Namespace, address: str, pids: list[int], workdir: Path, name: str) -> dict[str, Any]:
    out = workdir / f"{name}.json"
    cmd = [sys.executable, "-m", "bench.loadgen", "--mode", "ours", "--scenarios", "A", "--server", address]
    for pid in pids:
        cmd += ["--server-pid", str(pid)]
    cmd += ["--json-out", str(out), "--users-file", str(workdir / "users.json"), "--deadline", "600"]
    cmd += ["--a-conns", str(args.conns), "--a-rooms", str(args.rooms), "--a-senders", str(args.rooms)]
    cmd += ["--a-rates", args.p_rates, "--step-seconds", str(args.step_seconds), "--p99-ms", str(args.p99_ms)]
    cmd += ["--drain-seconds", "3", "--step-pause", "0.5"]
    subprocess.run(cmd, cwd=REPO, check=False, timeout=700)
    if not out.exists():
        return {"error": "the load generator wrote no results"}
    return json.loads(out.read_text())["scenarios"]["A"]


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    spec = base_spec()
    spec.db_name, spec.redis_db = args.db_name, args.redis_db
    spec.extra_env["LOG_LEVEL"] = "WARNING"
    prepare(spec, workdir)
    env = {**spec.env(), "WEB_CONCURRENCY": "1", "VAR_DIR": str(workdir / "var"), "HOST": "127.0.0.1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    results: dict[str, Any] = {}

    # 1. One process, direct.
    port = free_port()
    log = open(workdir / "direct.log", "wb")
    serve = subprocess.Popen(
        [str(REPO / "deploy" / "serve.sh")], cwd=REPO, env={**env, "PORT": str(port)}, stdout=log, stderr=log
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz")
        results["direct"] = loadgen(args, f"127.0.0.1:{port}", [serve.pid], workdir, "direct")
    finally:
        serve.terminate()
        serve.wait(30)
        log.close()

    # 2. Two processes behind nginx, as `make cluster` runs them.
    flush_redis(spec.redis_db)
    cluster = Cluster(processes=2, run_dir=workdir / "cluster", env=env)
    with cluster:
        pids = [cluster.pids[f"web-{i}"]["pid"] for i in range(2)]
        results["nginx"] = loadgen(args, f"127.0.0.1:{cluster.port}", pids, workdir, "nginx")
    return results


def _wait_ready(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def render(args: argparse.Namespace, results: dict[str, Any]) -> str:
    machine = machine_info()
    lines = [
        START,
        "## Production command: two processes behind nginx vs one process direct (`python -m bench.proxy`)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine.get('cpu', 'this machine')}, "
        f"{os.cpu_count()} cores, **shared with other work while it ran** (other engineers' tests and "
        "benchmarks): read the figures as a comparison made in the same minutes, not as capacity.",
        "",
        f"Load: scenario A's shape, {args.conns} connections in {args.rooms} rooms of "
        f"{args.conns // args.rooms}, one sender per room, the total send rate stepped through {args.p_rates} "
        f"(each step {args.step_seconds:g} s). Server: `deploy/serve.sh` (uvicorn, uvloop, httptools, "
        "websockets, one worker per process), PostgreSQL and Redis on the same machine, nothing pinned "
        "(the two processes, nginx and the load generator share both cores). *sends/s* = the highest step "
        f"with no message lost, no error and p99 delivery under {args.p99_ms:g} ms.",
        "",
        "| topology | sends/s | p99 at that rate (ms) | steps: rate → p99 ms (lost) |",
        "| --- | ---: | ---: | --- |",
    ]
    names = {"direct": "1 process, direct", "nginx": "2 processes behind nginx"}
    for key, label in names.items():
        result = results.get(key, {})
        if "error" in result:
            lines.append(f"| {label} | failed | | {result['error']} |")
            continue
        at_max = result.get("at_max") or {}
        steps = ", ".join(f"{s['rate']:g} → {s['p99_ms']:.0f} ({s['lost']})" for s in result.get("steps", []))
        p99 = f"{at_max['p99_ms']:.0f}" if at_max else "—"
        lines.append(f"| {label} | {result.get('max_rate', 0):g} | {p99} | {steps} |")
    lines += ["", END]
    return "\n".join(lines)


def write_report(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chat-bench-proxy-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench.proxy work dir: {workdir} (database {args.db_name}, {REDIS_BASE}/{args.redis_db})", flush=True)
    try:
        results = run(args, workdir)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
    (workdir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    section = render(args, results).replace(str(workdir), "<workdir>").replace(PG_URL_BASE, "<postgres>")
    write_report(args.report, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
