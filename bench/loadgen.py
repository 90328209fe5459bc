"""Load generator for the chat server (ours) and the reference consumer.

Run it against already-running servers, e.g.:

    taskset -c 1 .venv/bin/python -m bench.loadgen --mode ours \\
        --server 127.0.0.1:8001 --server-pid 1234 --scenarios A,B --json-out /tmp/r.json

Every size and duration is a flag, so a smoke run can be tiny.  Each scenario
is bounded in time: steps have a fixed length, drains have a timeout, and the
whole process stops after --deadline seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from bench.api import ConnPool, UserPool
from bench.restload import rest_posts
from bench.scenarios import Ctx, idle, stepped
from bench.wsclient import SharedState


def add_load_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("load shape (all scenarios)")
    g.add_argument("--step-seconds", type=float, default=10.0, help="length of one rate step")
    g.add_argument("--drain-seconds", type=float, default=5.0, help="max wait after a step")
    g.add_argument("--step-pause", type=float, default=1.0, help="pause between steps")
    g.add_argument("--p99-ms", type=float, default=100.0, help="p99 delivery limit for 'max'")
    g.add_argument("--b-p99-ms", type=float, default=1000.0, help="p99 limit for scenario B (1000-member room)")
    g.add_argument("--body-pad", type=int, default=32, help="extra bytes per message body")
    g.add_argument("--gap-grace", type=float, default=0.2, help="wait before syncing a gap")
    g.add_argument("--connect-concurrency", type=int, default=50)
    g.add_argument("--connect-timeout", type=float, default=30.0)
    g.add_argument("--rest-concurrency", type=int, default=8)
    g.add_argument("--page-limit", type=int, default=200, help="history page size (<=200)")
    g.add_argument("--token-max-age", type=float, default=120.0, help="refresh older tokens")
    g = p.add_argument_group("scenario A: rooms of 10, many senders")
    g.add_argument("--a-conns", type=int, default=500)
    g.add_argument("--a-rooms", type=int, default=50)
    g.add_argument("--a-senders", type=int, default=50)
    g.add_argument("--a-rates", default="25,50,100,200,400,600,800,1000,1200,1600,2000,2500,3000")
    g = p.add_argument_group("scenario B: one big room, one sender")
    g.add_argument("--b-conns", type=int, default=1000)
    g.add_argument("--b-rates", default="1,2,5,10,15,20,30,40,60,80,100")
    g = p.add_argument_group("scenario C: idle connections")
    g.add_argument("--c-conns", type=int, default=2000)
    g.add_argument("--c-users", type=int, default=1000, help="ours: distinct users (cycled)")
    g.add_argument("--c-hold", type=float, default=5.0, help="seconds to hold them open")
    g = p.add_argument_group("scenario D: REST posts (ours only)")
    g.add_argument("--d-clients", type=int, default=16)
    g.add_argument("--d-rooms", type=int, default=4)
    g.add_argument("--d-seconds", type=float, default=10.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mode", choices=["ours", "reference"], required=True)
    p.add_argument("--server", action="append", required=True, help="HOST:PORT; repeat to split clients")
    p.add_argument("--server-pid", action="append", type=int, default=[], help="for CPU/RSS")
    p.add_argument("--scenarios", default="A", help="comma list of A,B,C,D")
    p.add_argument("--json-out", type=Path, help="write results here as JSON")
    p.add_argument("--users-file", type=Path, help="ours: cache of bench users and tokens")
    p.add_argument("--user-prefix", default="benchuser", help="ours: username prefix")
    p.add_argument("--deadline", type=float, default=1800.0, help="hard stop after N seconds")
    add_load_args(p)
    return p.parse_args(argv)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    servers = []
    for s in args.server:
        host, _, port = s.rpartition(":")
        servers.append((host or "127.0.0.1", int(port)))
    ctx = Ctx(args=args, mode=args.mode, shared=SharedState(), servers=servers, pids=args.server_pid)
    if args.mode == "ours":
        ctx.rest = ConnPool(*servers[0], size=args.rest_concurrency)
        ctx.users = UserPool(ctx.rest, args.users_file, args.user_prefix, args.rest_concurrency)
    results: dict[str, Any] = {"mode": args.mode, "servers": args.server, "scenarios": {}}
    try:
        for name in [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]:
            t0 = time.monotonic()
            try:
                if name == "A":
                    res = await stepped(ctx, "A", args.a_conns, args.a_rooms, args.a_senders)
                elif name == "B":
                    res = await stepped(ctx, "B", args.b_conns, 1, 1)
                elif name == "C":
                    res = await idle(ctx)
                elif name == "D":
                    if args.mode != "ours":
                        continue
                    res = await rest_posts(ctx)
                else:
                    raise SystemExit(f"unknown scenario {name}")
            except Exception as exc:
                print(f"  scenario {name} ERROR: {exc!r}", flush=True)
                res = {"scenario": name, "mode": args.mode, "error": repr(exc), "passed": False}
            res["seconds"] = time.monotonic() - t0
            results["scenarios"][name] = res
    finally:
        if ctx.rest is not None:
            await ctx.rest.close()
    results["contract_notes"] = sorted(ctx.shared.contract_notes)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile()

    async def bounded_run() -> dict[str, Any]:
        return await asyncio.wait_for(run(args), args.deadline)

    try:
        results = asyncio.run(bounded_run())
    except TimeoutError:
        print(f"loadgen: hard deadline of {args.deadline}s reached", file=sys.stderr)
        return 3
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1, default=str))
    failed = [n for n, r in results["scenarios"].items() if not scenario_passed(r)]
    return 1 if failed else 0


def scenario_passed(res: dict[str, Any]) -> bool:
    if "error" in res:
        return False
    if res.get("scenario") in ("A", "B"):
        audit = res.get("audit")
        return bool(res.get("steps")) and (audit is None or bool(audit.get("passed")))
    return bool(res.get("passed"))


if __name__ == "__main__":
    sys.exit(main())
