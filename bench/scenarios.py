"""Scenarios A/B (stepped fan-out), C (idle connections) for both server kinds."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bench.api import ConnPool, UserPool, bounded, create_room, join_room
from bench.audit import audit_ours
from bench.stats import CpuMeter, Step, proc_rss_kib
from bench.wsclient import OursClient, RefClient, SharedState

Client = OursClient | RefClient


@dataclass
class Ctx:
    args: argparse.Namespace
    mode: str  # "ours" | "reference"
    shared: SharedState
    servers: list[tuple[str, int]]  # (host, port) per server process
    pids: list[int]
    users: UserPool | None = None
    rest: ConnPool | None = None
    tag: str = field(default_factory=lambda: f"b{int(time.time()) % 1000000}{secrets.token_hex(3)}")
    scenario: str = ""

    def ws_url(self, i: int, path: str) -> str:
        host, port = self.servers[i % len(self.servers)]
        return f"ws://{host}:{port}{path}"


@dataclass
class Fleet:
    clients: list[Client]
    senders: list[tuple[Client, Any]]  # (client, room id or room name)
    members: dict[Any, list[Client]]  # room -> member clients
    owners: dict[Any, Any] = field(default_factory=dict)  # room -> owner User (ours)


def split(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (1 if k < extra else 0) for k in range(parts)]


async def build_fleet(ctx: Ctx, name: str, conns: int, n_rooms: int, n_senders: int) -> Fleet:
    a = ctx.args
    sizes = split(conns, n_rooms)
    room_of_conn = [k for k, size in enumerate(sizes) for _ in range(size)]
    t0 = time.monotonic()
    if ctx.mode == "ours":
        assert ctx.users is not None and ctx.rest is not None
        rest = ctx.rest
        users = await ctx.users.ensure(conns, a.token_max_age)
        t0 = time.monotonic()
        firsts = [room_of_conn.index(k) for k in range(n_rooms)]

        async def mk(k: int) -> int:
            return await create_room(rest.get(), users[firsts[k]], f"{ctx.tag}-{name}-{k}")

        room_ids = await bounded(range(n_rooms), mk, a.rest_concurrency)
        joins = [(i, k) for i, k in enumerate(room_of_conn) if i != firsts[k]]
        await bounded(joins, lambda p: join_room(rest.get(), users[p[0]], room_ids[p[1]]), a.rest_concurrency)
        print(f"  {n_rooms} rooms, {len(joins)} joins in {time.monotonic() - t0:.1f}s", flush=True)
        rooms: list[Any] = room_ids
        clients: list[Client] = [
            OursClient(ctx.shared, ctx.ws_url(i, "/ws/"), u.access, a.gap_grace) for i, u in enumerate(users)
        ]
        owners = {room_ids[k]: users[firsts[k]] for k in range(n_rooms)}
    else:
        rooms = [f"{ctx.tag}_{name}_{k}" for k in range(n_rooms)]
        clients = [
            RefClient(ctx.shared, ctx.ws_url(i, f"/ws/chat/{rooms[k]}/"), rooms[k]) for i, k in enumerate(room_of_conn)
        ]
        owners = {}
    members: dict[Any, list[Client]] = {r: [] for r in rooms}
    for i, k in enumerate(room_of_conn):
        members[rooms[k]].append(clients[i])
    t0 = time.monotonic()
    await connect_all(ctx, clients, [rooms[k] for k in room_of_conn])
    print(f"  {conns} connections open in {time.monotonic() - t0:.1f}s", flush=True)
    senders = []
    for s in range(n_senders):
        room = rooms[s % n_rooms]
        senders.append((members[room][(s // n_rooms) % len(members[room])], room))
    return Fleet(clients, senders, members, owners)


async def connect_all(ctx: Ctx, clients: list[Client], rooms: list[Any], tolerate: bool = False) -> list[str]:
    """Open all connections (bounded concurrency); return errors if `tolerate`."""
    timeout = ctx.args.connect_timeout
    errors: list[str] = []

    async def one(p: tuple[Client, Any]) -> None:
        client, room = p
        try:
            if isinstance(client, OursClient):
                await client.start(timeout, [room] if room is not None else [])
            else:
                await client.start(timeout)
        except Exception as exc:
            if not tolerate:
                raise
            client.closed = True
            errors.append(repr(exc))

    await bounded(list(zip(clients, rooms, strict=True)), one, ctx.args.connect_concurrency)
    return errors


async def close_all(clients: list[Client]) -> None:
    await bounded(clients, lambda c: c.close(), 200)


def _ours_behind(fleet: Fleet, shared: SharedState) -> int:
    total = 0
    for room, clients in fleet.members.items():
        target = shared.room_max_acked.get(room, 0)
        for c in clients:
            assert isinstance(c, OursClient)
            total += c.behind(room, target)
    return total


def _pending(fleet: Fleet) -> int:
    return sum(len(c.pending) for c, _ in fleet.senders if isinstance(c, OursClient))


async def run_step(ctx: Ctx, fleet: Fleet, rate: float, step_no: int, seconds: float) -> Step:
    a, shared = ctx.args, ctx.shared
    step = shared.step = Step(rate=rate)
    step.planned = max(1, int(rate * seconds))
    alive_before = sum(1 for c in fleet.clients if not c.closed)
    meter = CpuMeter(ctx.pids)
    meter.start()
    t0 = time.perf_counter()
    i = 0
    n_senders = len(fleet.senders)
    while i < step.planned:
        due = min(step.planned, int((time.perf_counter() - t0) * rate) + 1)
        while i < due:
            client, room = fleet.senders[i % n_senders]
            if not client.closed:
                key = f"{ctx.tag}-{ctx.scenario}{step_no}-{i}"
                try:
                    if isinstance(client, OursClient):
                        await client.send_message(room, key, a.body_pad)
                    else:
                        await client.send_message(key, a.body_pad)
                        step.expected += len(fleet.members[room])
                    step.sent += 1
                except Exception:
                    step.errors["send_failed"] += 1
            i += 1
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    step.send_seconds = time.perf_counter() - t0
    deadline = time.monotonic() + a.drain_seconds
    gap_poke = time.monotonic() + a.drain_seconds / 3
    while time.monotonic() < deadline:
        if ctx.mode == "ours":
            if _pending(fleet) == 0 and _ours_behind(fleet, shared) == 0:
                break
            if time.monotonic() > gap_poke:
                gap_poke = deadline
                for c in fleet.clients:
                    if isinstance(c, OursClient) and not c.closed:
                        c.check_gaps_now()
        elif step.received >= step.expected:
            break
        await asyncio.sleep(0.02)
    step.cpu = meter.stop()
    if ctx.mode == "ours":
        step.unacked = _pending(fleet)
        for c, _ in fleet.senders:
            if isinstance(c, OursClient):
                c.expired.update(c.pending)
                c.pending.clear()
        step.lost = _ours_behind(fleet, shared)
    else:
        step.lost = max(0, step.expected - step.received)
        for c in fleet.clients:
            if isinstance(c, RefClient):
                c.seen.clear()
    step.dropped = alive_before - sum(1 for c in fleet.clients if not c.closed)
    return step


async def stepped(ctx: Ctx, name: str, conns: int, rooms: int, senders: int) -> dict[str, Any]:
    a = ctx.args
    rates = [float(r) for r in getattr(a, f"{name.lower()}_rates").split(",") if r]
    print(f"[{ctx.mode}] scenario {name}: {conns} conns, {rooms} rooms, {senders} senders")
    ctx.scenario = name
    fleet = await build_fleet(ctx, name, conns, rooms, senders)
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    try:
        for n, rate in enumerate(rates):
            step = await run_step(ctx, fleet, rate, n, a.step_seconds)
            s = step.summary(a.b_p99_ms if name == "B" else a.p99_ms)
            steps.append(s)
            print(
                f"  rate {rate:>6g}/s sent={s['sent']} frames={s['frames']} "
                f"p50={s['p50_ms']:.1f}ms p99={s['p99_ms']:.1f}ms lost={s['lost']} "
                f"dup={s['duplicates']} sync={s['sync_requests']} "
                f"cpu/frame={s['cpu_us_per_frame']:.0f}us srv={s['server_cpu_pct']:.0f}% "
                f"gen={s['loadgen_cpu_pct']:.0f}% {'ok' if s['passed'] else s['fail_reasons']}",
                flush=True,
            )
            if not s["passed"]:
                break
            best = s
            await asyncio.sleep(a.step_pause)
        audit = await audit_ours(ctx, fleet) if ctx.mode == "ours" else None
    finally:
        ctx.shared.step = Step(rate=0)
        await close_all(fleet.clients)
    return {
        "scenario": name,
        "mode": ctx.mode,
        "connections": conns,
        "rooms": rooms,
        "senders": senders,
        "server_processes": len(ctx.servers),
        "steps": steps,
        "max_rate": best["rate"] if best else 0.0,
        "at_max": best,
        "audit": audit,
    }


async def idle(ctx: Ctx) -> dict[str, Any]:
    """Scenario C: many idle connections; RSS per connection and connect rate."""
    a = ctx.args
    n = a.c_conns
    print(f"[{ctx.mode}] scenario C: {n} idle connections")
    clients: list[Client]
    rooms: list[Any]
    if ctx.mode == "ours":
        assert ctx.users is not None
        users = await ctx.users.ensure(min(n, a.c_users), a.token_max_age)
        clients = [
            OursClient(ctx.shared, ctx.ws_url(i, "/ws/"), users[i % len(users)].access, a.gap_grace) for i in range(n)
        ]
        rooms = [None] * n
    else:
        rooms = [f"{ctx.tag}_idle_{i // 10}" for i in range(n)]
        clients = [RefClient(ctx.shared, ctx.ws_url(i, f"/ws/chat/{r}/"), r) for i, r in enumerate(rooms)]
    await asyncio.sleep(1.0)
    rss0 = sum(proc_rss_kib(p) for p in ctx.pids)
    t0 = time.monotonic()
    pongs = None
    try:
        errors = await connect_all(ctx, clients, rooms, tolerate=True)
        connect_s = time.monotonic() - t0
        await asyncio.sleep(a.c_hold)
        rss1 = sum(proc_rss_kib(p) for p in ctx.pids)
        alive = sum(1 for c in clients if not c.closed)
        if ctx.mode == "ours":
            ours = [c for c in clients if isinstance(c, OursClient)]
            await bounded(ours, lambda c: c.send_json({"type": "ping"}), 200)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sum(c.pongs for c in ours) < alive:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            pongs = sum(c.pongs for c in ours)
    finally:
        await close_all(clients)
    res = {
        "scenario": "C",
        "mode": ctx.mode,
        "connections": n,
        "connect_seconds": connect_s,
        "connect_rate": n / connect_s if connect_s else 0.0,
        "rss_before_kib": rss0,
        "rss_after_kib": rss1,
        "rss_per_conn_kib": (rss1 - rss0) / n if n else 0.0,
        "alive_after_hold": alive,
        "connect_errors": len(errors),
        "first_errors": errors[:5],
        "dropped": n - alive,
        "pongs": pongs,
        "passed": alive == n and (pongs is None or pongs >= alive),
    }
    print(
        f"  connect {res['connect_rate']:.0f}/s, RSS {rss0 / 1024:.1f}->{rss1 / 1024:.1f} MiB "
        f"= {res['rss_per_conn_kib']:.1f} KiB/conn, alive {alive}/{n}, pongs {pongs}",
        flush=True,
    )
    return res
