"""Machine/version facts and the Markdown report (also printed to stdout)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

import psycopg
import redis

from bench.servers import PG_ADMIN_DSN, REDIS_BASE


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
            mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for pkg in ("django", "channels", "channels-redis", "daphne", "websockets", "twisted"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "n/a"
    try:
        client = redis.Redis.from_url(f"{REDIS_BASE}/0")
        out["redis-server"] = str(client.info("server").get("redis_version"))
        client.close()
    except redis.RedisError as exc:
        out["redis-server"] = f"unavailable ({exc})"
    try:
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            out["postgres"] = str(row[0]) if row else "?"
    except psycopg.Error as exc:
        out["postgres"] = f"unavailable ({exc})"
    try:
        res = subprocess.run(["taskset", "--version"], capture_output=True, text=True, timeout=5)
        out["taskset"] = res.stdout.strip()
    except OSError:
        out["taskset"] = "missing"
    return out


def _f(v: Any, fmt: str = "{:.0f}", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return fmt.format(v) + unit


def _scen(results: dict[str, Any], target: str, name: str) -> dict[str, Any] | None:
    res = results.get(target, {}).get("scenarios", {}).get(name)
    return res if isinstance(res, dict) else None


def table_rows(results: dict[str, Any], targets: list[str]) -> list[list[str]]:
    rows: list[list[str]] = []

    def row(label: str, fn: Any) -> None:
        cells = []
        for t in targets:
            try:
                cells.append(fn(t))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("n/a")
        rows.append([label, *cells])

    def stepped(t: str, name: str) -> dict[str, Any]:
        res = _scen(results, t, name)
        if res is None:
            return {}
        if "error" in res:
            raise KeyError(name)
        return res

    def max_cell(t: str, name: str) -> str:
        res = stepped(t, name)
        if not res:
            return "n/a"
        at = res.get("at_max")
        if not at:
            return "0 (first step failed)"
        top = res["steps"][-1]["passed"] and res["steps"][-1]["rate"] == res["max_rate"]
        capped = " (≥, top step passed)" if top else ""
        return f"{res['max_rate']:g}{capped} · p99 {at['p99_ms']:.1f} ms"

    row("A: max sends/s (rooms of 10) · p99 at max", lambda t: max_cell(t, "A"))
    row(
        "A: server CPU µs per delivered frame (at max)",
        lambda t: _f(stepped(t, "A")["at_max"]["cpu_us_per_frame"]),
    )
    row(
        "A: delivered frames/s at max",
        lambda t: _f(stepped(t, "A")["at_max"]["frames"] / stepped(t, "A")["at_max"]["wall_s"]),
    )
    row("B: max sends/s (1 room, fan-out to all) · p99 at max", lambda t: max_cell(t, "B"))
    row(
        "C: server RSS per idle connection",
        lambda t: _f(stepped(t, "C")["rss_per_conn_kib"], "{:.1f}", " KiB"),
    )
    row("C: connect rate", lambda t: _f(stepped(t, "C")["connect_rate"], unit=" conn/s"))
    row(
        "D: REST POST messages (concurrent clients)",
        lambda t: _f(stepped(t, "D")["requests_per_s"], unit=" req/s") if _scen(results, t, "D") else "n/a",
    )
    row("E: 2 servers / 1 server (A max)", lambda t: e_ratio(results, t))
    row("audit lost (A, B)", lambda t: lost_cell(results, t))
    return rows


def e_ratio(results: dict[str, Any], target: str) -> str:
    one = _scen(results, target, "A")
    two = _scen(results, target, "E")
    if not one or not two or "error" in two or "error" in one:
        return "n/a"
    if not one.get("max_rate"):
        return f"n/a (1 server max 0; 2 servers {two.get('max_rate', 0):g})"
    return f"{two['max_rate'] / one['max_rate']:.2f} ({two['max_rate']:g} vs {one['max_rate']:g})"


def lost_cell(results: dict[str, Any], target: str) -> str:
    parts = []
    for name in ("A", "B", "E"):
        res = _scen(results, target, name)
        if res and res.get("audit"):
            parts.append(str(res["audit"]["lost"]))
    return " / ".join(parts) if parts else "n/a (no audit)"


def failures(results: dict[str, Any], targets: list[str]) -> list[str]:
    out = []
    for t in targets:
        tr = results.get(t, {})
        if "error" in tr:
            out.append(f"{t}: {tr['error']}")
        for name, res in tr.get("scenarios", {}).items():
            if "error" in res:
                out.append(f"{t} {name}: {res['error']}")
            steps = res.get("steps")
            if steps is not None and not res.get("at_max"):
                why = "; ".join(steps[0]["fail_reasons"]) if steps else "no steps"
                out.append(f"{t} {name}: not even the first rate step passed ({why})")
            audit = res.get("audit")
            if audit and not audit.get("passed"):
                out.append(
                    f"{t} {name}: audit lost={audit['lost']} acked_missing={audit['acked_missing']} "
                    f"db_duplicates={audit['db_duplicate_client_ids']} "
                    f"seq_gap_rooms={audit['rooms_with_seq_gaps']}"
                )
            if name == "C" and not res.get("passed", True):
                out.append(f"{t} C: {res.get('dropped')} dropped, {res.get('connect_errors')} connect errors")
            if name == "D" and not res.get("passed", True):
                out.append(f"{t} D: statuses {res.get('statuses')} repeat={res.get('repeat_client_id_status')}")
    return out


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def step_table(res: dict[str, Any]) -> str:
    header = ["sends/s", "sent", "frames", "p50 ms", "p99 ms", "lost", "dup", "syncs", "CPU µs/frame"]
    header += ["server CPU %", "loadgen CPU %", "result"]
    rows = []
    for s in res.get("steps", []):
        rows.append(
            [
                f"{s['rate']:g}",
                str(s["sent"]),
                str(s["frames"]),
                _f(s["p50_ms"], "{:.1f}"),
                _f(s["p99_ms"], "{:.1f}"),
                str(s["lost"]),
                str(s["duplicates"]),
                str(s["sync_requests"]),
                _f(s["cpu_us_per_frame"]),
                _f(s["server_cpu_pct"]),
                _f(s["loadgen_cpu_pct"]),
                "ok" if s["passed"] else "FAIL: " + "; ".join(s["fail_reasons"]),
            ]
        )
    return md_table(header, rows)


def render(meta: dict[str, Any], results: dict[str, Any], targets: list[str]) -> tuple[str, str]:
    """Return (full markdown report, summary table)."""
    summary = md_table(["metric", *targets], table_rows(results, targets))
    fails = failures(results, targets)
    out = ["# Benchmarks", "", f"Generated by `python -m bench.run` on {meta['machine']['date']}.", ""]
    out += ["## Result", ""]
    out += [f"**FAILED**: {f}" for f in fails] or ["lost=0: every audited run delivered every acked message."]
    out += ["", summary, ""]
    out += [
        "'max' is the highest stepped total send rate with no loss, no unacked send, no error frame, "
        "no dropped connection and p99 delivery latency below "
        f"{meta['p99_ms']:g} ms ({meta.get('b_p99_ms', 1000):g} ms for B, the 1000-member room). "
        "A '≥' means the highest configured step still passed. "
        "CPU per frame is the server's utime+stime over the step divided by message frames "
        "delivered to clients. loadgen CPU near 100 % means the client, not the server, was the limit.",
        "",
        "## Machine",
        "",
    ]
    out += [f"- {k}: {v}" for k, v in meta["machine"].items()]
    out += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in meta["versions"].items()]
    out += ["", "## Commands", "", "```"] + meta["commands"] + ["```", ""]
    out += ["Server environment: " + meta["server_env"], ""]
    for t in targets:
        tr = results.get(t, {})
        out += [f"## {t}", ""]
        if "error" in tr:
            out += [f"FAILED to run: `{tr['error']}`", ""]
        for name, res in tr.get("scenarios", {}).items():
            out += [f"### {t} · scenario {name}", ""]
            if "error" in res:
                out += [f"ERROR: `{res['error']}`", ""]
                continue
            if res.get("steps") is not None:
                out += [
                    f"{res['connections']} connections, {res['rooms']} rooms, {res['senders']} senders "
                    f"over {res.get('server_processes', 1)} server process(es).",
                    "",
                    step_table(res),
                    "",
                ]
                if res.get("audit"):
                    a = res["audit"]
                    out += [
                        f"Audit: {a['db_messages']} messages in the database, {a['acked']} acked, "
                        f"missing {a['acked_missing']}, duplicates {a['db_duplicate_client_ids']}, "
                        f"rooms with seq gaps {a['rooms_with_seq_gaps']}, tail-recovered "
                        f"{a['tail_recovered']}, **lost {a['lost']}**.",
                        "",
                    ]
                    out += [f"- note: {p}" for p in a.get("problems", []) + a.get("contract_notes", [])]
                    out += [""]
            else:
                keep = {k: v for k, v in res.items() if k not in ("scenario", "mode")}
                out += ["```", *(f"{k}: {v}" for k, v in keep.items()), "```", ""]
    return "\n".join(out) + "\n", summary
