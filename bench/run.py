"""Entry point of `make bench`: start servers, run the load generator, write the report.

    python -m bench.run                      # full run, report -> docs/benchmarks.md
    python -m bench.run --smoke              # < 30 s sanity run, report in the work dir
    python -m bench.run --targets reference --scenarios A,C --a-rates 50,100

Servers are pinned with `taskset -c 0` and the load generator with `taskset -c 1`
(scenario E: two servers on cores 0 and 1, load generator unpinned).  Every
server started here is killed on exit, Ctrl-C, SIGTERM or timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.loadgen import add_load_args
from bench.report import machine_info, render, versions
from bench.servers import (
    REPO,
    ServerProc,
    ServerSpec,
    flush_redis,
    free_port,
    install_signal_handlers,
    ours_spec,
    ours_uvicorn_spec,
    prepare,
    reference_spec,
    stop_all,
    taskset_prefix,
)

SPECS: dict[str, Callable[[], ServerSpec]] = {
    "ours": ours_spec,
    "ours-uvicorn": ours_uvicorn_spec,
    "reference": lambda: reference_spec(False),
    "reference+pg": lambda: reference_spec(True),
}

SMOKE = {
    "targets": "ours,reference",
    "scenarios": "A,C,D",
    "a_conns": 12,
    "a_rooms": 2,
    "a_senders": 2,
    "a_rates": "20",
    "step_seconds": 3.0,
    "drain_seconds": 2.0,
    "step_pause": 0.2,
    "b_conns": 12,
    "b_rates": "5",
    "c_conns": 24,
    "c_users": 12,
    "c_hold": 0.5,
    "d_clients": 4,
    "d_rooms": 2,
    "d_seconds": 2.0,
    "connect_timeout": 10.0,
    "loadgen_timeout": 120.0,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny run (< 30 s), for smoke tests")
    p.add_argument("--targets", default="ours,reference,reference+pg", help=f"of {', '.join(SPECS)}")
    p.add_argument(
        "--scenarios",
        default="A,B,C,D,E",
        help="comma list of A,B,C,D,E; M (files and search, bench/media.py) on demand",
    )
    p.add_argument("--report", type=Path, help="Markdown output (default docs/benchmarks.md)")
    p.add_argument("--workdir", type=Path, help="logs and raw JSON (default: a new temp dir)")
    p.add_argument("--server-cores", default="0", help="taskset list for the server ('' = none)")
    p.add_argument("--loadgen-cores", default="1", help="taskset list for the load generator")
    p.add_argument("--loadgen-timeout", type=float, default=3600.0, help="per load generator run")
    p.add_argument("--server-env", action="append", default=[], help="extra KEY=VALUE for servers")
    add_load_args(p)
    if "--smoke" in argv:
        p.set_defaults(**SMOKE)
    return p.parse_args(argv)


def load_argv(args: argparse.Namespace) -> list[str]:
    """Forward the shared load-shape flags to bench.loadgen."""
    probe = argparse.ArgumentParser(add_help=False)
    add_load_args(probe)
    out: list[str] = []
    for action in probe._actions:
        if action.option_strings:
            out += [action.option_strings[0], str(getattr(args, action.dest))]
    return out


def run_loadgen(
    args: argparse.Namespace,
    target: str,
    servers: list[ServerProc],
    scenarios: str,
    workdir: Path,
    cores: str | None,
    commands: list[str],
) -> dict[str, Any]:
    spec = servers[0].spec
    out = workdir / f"{target}-{len(servers)}srv-{scenarios.replace(',', '')}.json"
    cmd = [*taskset_prefix(cores), sys.executable, "-m", "bench.loadgen"]
    cmd += ["--mode", "ours" if target.startswith("ours") else "reference", "--scenarios", scenarios]
    for s in servers:
        cmd += ["--server", f"127.0.0.1:{s.port}", "--server-pid", str(s.pid)]
    cmd += ["--json-out", str(out), "--users-file", str(workdir / f"users-{spec.db_name}.json")]
    cmd += ["--deadline", str(max(10.0, args.loadgen_timeout - 10)), *load_argv(args)]
    commands.append(shlex.join(cmd))
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True)
    try:
        proc.wait(timeout=args.loadgen_timeout)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        raise
    dead = [s for s in servers if not s.alive()]
    if dead:
        return {"error": f"server died during the run; log tail:\n{dead[0].tail_log()}", "scenarios": {}}
    if not out.exists():
        return {"error": f"load generator exited {proc.returncode} without results", "scenarios": {}}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def apply_server_env(spec: ServerSpec, pairs: list[str]) -> ServerSpec:
    for pair in pairs:
        key, _, value = pair.partition("=")
        spec.extra_env[key] = value
    return spec


def run_target(target: str, args: argparse.Namespace, workdir: Path, commands: list[str]) -> dict[str, Any]:
    spec = apply_server_env(SPECS[target](), args.server_env)
    scen = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    main = ",".join(s for s in scen if s in "ABCD" and not (s == "D" and not target.startswith("ours")))
    print(f"=== {target}: preparing database {spec.db_name} and running migrations", flush=True)
    (workdir / f"users-{spec.db_name}.json").unlink(missing_ok=True)
    commands.append(f"# {target}\n{prepare(spec, workdir)}")
    out: dict[str, Any] = {"scenarios": {}}
    # C measures RSS growth, so it gets a fresh server process: after A and B the
    # allocator reuses freed memory and the growth per connection reads too low.
    groups = [",".join(s for s in main.split(",") if s and s != "C"), "C" if "C" in main.split(",") else ""]
    for group in [g for g in groups if g]:
        srv = ServerProc(spec, free_port(), args.server_cores or None, workdir)
        srv.start()
        commands.append(srv.command_line())
        try:
            res = run_loadgen(args, target, [srv], group, workdir, args.loadgen_cores or None, commands)
        finally:
            srv.stop()
        out["scenarios"].update(res.get("scenarios", {}))
        if "error" in res:
            out["error"] = res["error"]
    if "E" in scen:
        flush_redis(spec.redis_db)
        pair = [ServerProc(spec, free_port(), core, workdir) for core in ("0", "1")]
        try:
            for srv in pair:
                srv.start()
                commands.append(srv.command_line())
            res = run_loadgen(args, target, pair, "A", workdir, None, commands)
        finally:
            for srv in pair:
                srv.stop()
        if "A" in res.get("scenarios", {}):
            out["scenarios"]["E"] = res["scenarios"]["A"] | {"scenario": "E"}
        if "error" in res:
            out["scenarios"]["E"] = {"error": res["error"]}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    install_signal_handlers()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="chat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = args.report or (workdir / "benchmarks-smoke.md" if args.smoke else REPO / "docs" / "benchmarks.md")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in SPECS:
            raise SystemExit(f"unknown target {t!r}; choose from {', '.join(SPECS)}")
    print(f"bench work dir (logs, raw JSON): {workdir}", flush=True)
    commands = [f"# {shlex.join([sys.executable, '-m', 'bench.run', *(argv or sys.argv[1:])])}"]
    results: dict[str, Any] = {}
    t0 = time.monotonic()
    interrupted = False
    scenarios = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
    media_result = None
    try:
        if "M" in scenarios:
            from bench import media

            media_result = media.run(media.parse_args(["--server-cores", args.server_cores]), workdir, commands)
        if set(scenarios) == {"M"}:
            targets = []
        for target in targets:
            try:
                results[target] = run_target(target, args, workdir, commands)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                print(f"=== {target} FAILED: {exc}", flush=True)
                results[target] = {"error": str(exc)[:2000], "scenarios": {}}
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping servers", flush=True)
    finally:
        stop_all()
    meta = {
        "machine": machine_info(),
        "versions": versions(),
        "commands": commands,
        "p99_ms": args.p99_ms,
        "b_p99_ms": args.b_p99_ms,
        "server_env": "DATABASE_URL=postgres://postgres@127.0.0.1:5432/<bench db>, "
        "REDIS_URL=redis://127.0.0.1:6379/<n>, DEBUG=0, SECRET_KEY=<random>, ALLOWED_HOSTS=127.0.0.1,"
        "localhost, THROTTLE_DISABLED=1, HTTPS=0 (ours also ARGON2_TIME_COST=1 ARGON2_MEMORY_KIB=1024 "
        "ARGON2_PARALLELISM=1, a cheaper login)" + "".join(f", {e}" for e in args.server_env),
    }
    (workdir / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))
    text, summary = render(meta, results, targets)
    # The report is committed: no machine paths in it.
    text = text.replace(f"{REPO}/", "").replace(str(workdir), "<workdir>")
    if interrupted:
        text = "**FAILED**: run interrupted\n\n" + text
    report.parent.mkdir(parents=True, exist_ok=True)
    if targets:
        from bench import media

        # A run without M keeps the report's last M figures (they come from their own run).
        previous = report.read_text() if report.exists() else ""
        if media_result is None and media.START in previous and media.END in previous:
            kept = previous[previous.index(media.START) : previous.index(media.END) + len(media.END)]
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
        report.write_text(text)
    if media_result is not None:
        from bench import media

        media.write_section(report, media.render(media_result, meta["machine"]))
    print("\n" + summary + "\n", flush=True)
    failed = interrupted or "**FAILED**" in text
    print(f"{'FAILED' if failed else 'OK'}: report written to {report} in {time.monotonic() - t0:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
