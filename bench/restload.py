"""Scenario D: REST POST rooms/{id}/messages/ from N concurrent keep-alive clients."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.api import API, bounded, create_room, join_room, post_message
from bench.httpclient import HttpConnection, HttpError
from bench.stats import CpuMeter, percentile

if TYPE_CHECKING:
    from bench.scenarios import Ctx


async def rest_posts(ctx: Ctx) -> dict[str, Any]:
    a = ctx.args
    assert ctx.users is not None and ctx.rest is not None
    rest = ctx.rest
    n = a.d_clients
    print(f"[{ctx.mode}] scenario D: {n} REST clients, {a.d_rooms} rooms, {a.d_seconds}s")
    users = await ctx.users.ensure(max(n, a.d_rooms), a.token_max_age)
    rooms = await bounded(
        range(a.d_rooms),
        lambda k: create_room(rest.get(), users[k], f"{ctx.tag}-D-{k}"),
        a.rest_concurrency,
    )
    room_of = [rooms[i % len(rooms)] for i in range(n)]
    joins = [(i, room_of[i]) for i in range(n) if users[i % len(rooms)] is not users[i]]
    await bounded(joins, lambda p: join_room(rest.get(), users[p[0]], p[1]), a.rest_concurrency)
    conns = [HttpConnection(*ctx.servers[i % len(ctx.servers)], timeout=30) for i in range(n)]
    statuses: Counter[str] = Counter()
    latencies: list[int] = []
    deadline = 0.0

    async def worker(i: int) -> None:
        conn, user, room = conns[i], users[i], room_of[i]
        for k in range(10_000_000):
            if time.monotonic() >= deadline:
                return
            t = time.perf_counter_ns()
            try:
                status = await post_message(conn, user, room, f"t={t} d", f"{ctx.tag}-D-{i}-{k}")
            except HttpError as exc:
                statuses[f"transport:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.05)
                continue
            latencies.append((time.perf_counter_ns() - t) // 1000)
            statuses[str(status)] += 1

    # warm-up: one request per client (opens keep-alive connections)
    await bounded(
        range(n),
        lambda i: post_message(conns[i], users[i], room_of[i], "warm", f"{ctx.tag}-Dw-{i}"),
        n,
    )
    meter = CpuMeter(ctx.pids)
    meter.start()
    deadline = time.monotonic() + a.d_seconds
    await asyncio.gather(*(worker(i) for i in range(n)))
    cpu = meter.stop()
    # idempotency probe: the same client_id again must give 200 and the same message
    repeat = await post_message(conns[0], users[0], room_of[0], "warm", f"{ctx.tag}-Dw-0")
    probe = await conns[0].request("GET", f"{API}/rooms/{room_of[0]}/messages/?after=0&limit=5", token=users[0].access)
    for c in conns:
        await c.close()
    ok = statuses.get("201", 0)
    lat = sorted(latencies)
    res = {
        "scenario": "D",
        "mode": ctx.mode,
        "clients": n,
        "rooms": len(rooms),
        "seconds": cpu["wall_s"],
        "statuses": dict(statuses),
        "requests_per_s": ok / cpu["wall_s"],
        "p50_ms": percentile(lat, 50) / 1000,
        "p99_ms": percentile(lat, 99) / 1000,
        "cpu_us_per_request": 1e6 * cpu["server_cpu_s"] / max(1, ok),
        "repeat_client_id_status": repeat,
        "history_probe_status": probe.status,
        **cpu,
        "passed": ok > 0 and set(statuses) <= {"201"} and repeat == 200,
    }
    print(
        f"  {res['requests_per_s']:.0f} req/s p50={res['p50_ms']:.1f}ms p99={res['p99_ms']:.1f}ms "
        f"statuses={dict(statuses)} repeat={repeat} cpu/req={res['cpu_us_per_request']:.0f}us",
        flush=True,
    )
    return res
