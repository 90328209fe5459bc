"""Scaling figure: server CPU per delivered frame with 1, 2, 4, 8 server processes.

    python -m bench.scaling                                 # this checkout only
    python -m bench.scaling --baseline-src /tmp/baseline    # and an older checkout beside it

The same load at every N: `--rooms` rooms of `--members`, `--rate` sends/s in total;
each room's members (and its sender) connect to one process (room k -> process k % N),
as a load balancer with room affinity would place them. All processes are pinned to
one core (`taskset -c 0`) and the load generator to the other, so the figure is CPU time,
not wall clock: the sum of every server process's utime+stime over the step divided by
the message frames the clients received. With per-room subscriptions it stays flat as
N grows; a design where every process reads every event grows with N.

It starts its own `redis-server` on a free port (nothing shared is flushed) and uses a
throw-away PostgreSQL database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api import ConnPool, UserPool, bounded, create_room, join_room
from bench.scenarios import Ctx, Fleet, close_all, connect_all, run_step
from bench.servers import (
    REPO,
    ServerProc,
    ServerSpec,
    drop_database,
    free_port,
    install_signal_handlers,
    reset_database,
    stop_all,
)
from bench.wsclient import OursClient, SharedState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--procs", default="1,2,4,8")
    p.add_argument("--rooms", type=int, default=16)
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--rate", type=float, default=40.0, help="sends/s over all rooms")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--src", type=Path, default=REPO, help="the checkout to measure (default: this one)")
    p.add_argument("--baseline-src", type=Path, help="another checkout to measure beside this one")
    p.add_argument("--baseline-rev", help="a git revision to export and measure beside (e.g. 056abe3)")
    p.add_argument("--baseline-name", default="before (one Redis channel for every event)")
    p.add_argument("--server", default="uvicorn", choices=("daphne", "uvicorn"))
    p.add_argument("--report", type=Path, help="Markdown output (default: print)")
    p.add_argument("--json-out", type=Path)
    # What bench.scenarios.run_step reads.
    p.add_argument("--body-pad", type=int, default=64)
    p.add_argument("--drain-seconds", type=float, default=5.0)
    p.add_argument("--gap-grace", type=float, default=0.2)
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--connect-concurrency", type=int, default=20)
    p.add_argument("--rest-concurrency", type=int, default=8)
    p.add_argument("--token-max-age", type=float, default=600.0)
    p.add_argument("--p99-ms", type=float, default=100.0)
    return p.parse_args(argv)


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def spec_for(name: str, db: str, redis_port: int, server: str) -> ServerSpec:
    spec = ServerSpec(
        name,
        "chatproject.asgi:application",
        db,
        0,
        extra_env={
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "1024",
            "ARGON2_PARALLELISM": "1",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CACHE_PREFIX": "bench",
        },
        server=server,
    )
    return spec


def measure(args: argparse.Namespace, src: Path, name: str, logdir: Path) -> dict[str, Any]:
    db = f"bench_scaling_{os.getpid()}"
    redis = OwnRedis()
    reset_database(db)
    spec = spec_for(name, db, redis.port, args.server)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=src, env=spec.env(), check=True
        )
        results: dict[str, Any] = {}
        for n in [int(x) for x in args.procs.split(",")]:
            users_cache = logdir / f"users-{name}-{n}.json"  # fresh users: members of this size's rooms only
            servers = [ServerProc(spec, free_port(), "0", logdir, cwd=src) for _ in range(n)]
            for server in servers:
                server.start()
            try:
                results[str(n)] = asyncio.run(one_size(args, servers, users_cache))
            except Exception as exc:  # one size failing still reports the others
                results[str(n)] = {"error": repr(exc)[:300]}
            finally:
                for server in servers:
                    server.stop()
            print(f"  [{name}] {n} processes: {cell(results[str(n)])} µs/frame", flush=True)
        return results
    finally:
        redis.stop()
        drop_database(db)


async def one_size(args: argparse.Namespace, servers: list[ServerProc], users_cache: Path) -> dict[str, Any]:
    hub = SharedState()
    addresses = [("127.0.0.1", s.port) for s in servers]
    ctx = Ctx(args, "ours", hub, addresses, [s.pid for s in servers])
    rest = ConnPool("127.0.0.1", servers[0].port, args.rest_concurrency)
    try:
        pool = UserPool(rest, users_cache, f"sc{len(servers)}x", args.rest_concurrency)
        total = args.rooms * args.members
        users = await pool.ensure(total, args.token_max_age)
        room_ids = await bounded(
            range(args.rooms),
            lambda k: create_room(rest.get(), users[k * args.members], f"{ctx.tag}-s{k}"),
            args.rest_concurrency,
        )
        joins = [(k, m) for k in range(args.rooms) for m in range(1, args.members)]
        await bounded(
            joins,
            lambda p: join_room(rest.get(), users[p[0] * args.members + p[1]], room_ids[p[0]]),
            args.rest_concurrency,
        )
    finally:
        await rest.close()
    clients, rooms, members = [], [], {}
    for k, room in enumerate(room_ids):
        host, port = addresses[k % len(addresses)]
        members[room] = []
        for m in range(args.members):
            client = OursClient(hub, f"ws://{host}:{port}/ws/", users[k * args.members + m].access, args.gap_grace)
            clients.append(client)
            rooms.append(room)
            members[room].append(client)
    await connect_all(ctx, clients, rooms)
    fleet = Fleet(clients, [(members[room][0], room) for room in room_ids], members)
    try:
        await asyncio.sleep(2)  # connect-time presence settles
        ctx.scenario = "S"
        step = await run_step(ctx, fleet, args.rate, 1, args.seconds)
        summary = step.summary(args.p99_ms)
    finally:
        await close_all(clients)
    return {k: summary[k] for k in ("cpu_us_per_frame", "server_cpu_s", "frames", "lost", "p99_ms", "passed")}


def cell(result: dict[str, Any]) -> str:
    if "error" in result:
        return "failed: " + result["error"][:60]
    return f"{result['cpu_us_per_frame']:.1f}" + ("" if result["lost"] == 0 else f" ({result['lost']} lost)")


def render(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    sizes = args.procs.split(",")
    lines = [
        f"Load: {args.rooms} rooms × {args.members} members, {args.rate:g} sends/s in total for "
        f"{args.seconds:g} s, {args.server}, every server process on core 0 (`taskset -c 0`), "
        "each room's members on one process. Server CPU µs per delivered frame (all processes):",
        "",
        "| design | " + " | ".join(f"{n} proc" for n in sizes) + " | 8 vs 1 |",
        "|---|" + "---|" * (len(sizes) + 1),
    ]
    for name, by_size in results.items():
        cells = [cell(by_size[n]) for n in sizes]
        first, last = by_size[sizes[0]].get("cpu_us_per_frame"), by_size[sizes[-1]].get("cpu_us_per_frame")
        growth = f"{100 * (last / first - 1):+.0f} %" if first and last else "n/a"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth} |")
    return "\n".join(lines) + "\n"


def measure_all(args: argparse.Namespace) -> dict[str, Any]:
    logdir = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    print(f"scaling figure: logs in {logdir}", flush=True)
    results = {"this branch (per-room subscriptions)": measure(args, args.src.resolve(), "scaling", logdir)}
    if args.baseline_rev and not args.baseline_src:
        args.baseline_src = logdir / "baseline-src"
        args.baseline_src.mkdir()
        archive = subprocess.run(["git", "archive", args.baseline_rev], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(args.baseline_src)], input=archive.stdout, check=True)
        shutil.rmtree(args.baseline_src / "bench")  # its servers are measured with this harness
    if args.baseline_src:
        results[args.baseline_name] = measure(args, args.baseline_src.resolve(), "baseline", logdir)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    try:
        results = measure_all(args)
    finally:
        stop_all()
    text = render(args, results)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    if args.report:
        args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
