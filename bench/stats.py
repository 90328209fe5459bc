"""Per-step counters, latency percentiles and /proc readers."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(sorted_vals: list[int], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, round(q / 100.0 * len(sorted_vals) + 0.5) - 1))
    return float(sorted_vals[k])


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all threads) in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        raw = fh.read()
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime/stime are fields 14/15 -> index 11/12
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class CpuMeter:
    """CPU seconds consumed by a set of server pids and by this process."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._srv0 = 0.0
        self._self0 = 0.0

    def _server(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                total += proc_cpu_seconds(pid)
            except OSError:
                pass
        return total

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._srv0 = self._server()
        t = os.times()
        self._self0 = t.user + t.system

    def stop(self) -> dict[str, float]:
        wall = max(1e-9, time.monotonic() - self._t0)
        srv = self._server() - self._srv0
        t = os.times()
        own = t.user + t.system - self._self0
        return {
            "wall_s": wall,
            "server_cpu_s": srv,
            "server_cpu_pct": 100.0 * srv / wall,
            "loadgen_cpu_pct": 100.0 * own / wall,
        }


@dataclass
class Step:
    """Everything measured for one rate step (sends of the step + its drain)."""

    rate: float
    planned: int = 0
    sent: int = 0
    acked: int = 0
    send_seconds: float = 0.0
    frames: int = 0  # delivery frames received (message.new / reference frames)
    duplicates: int = 0
    late_after_sync: int = 0
    sync_requests: int = 0
    recovered_by_sync: int = 0
    expected: int = 0
    received: int = 0
    lost: int = 0
    unacked: int = 0
    dropped: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    ack_latencies_us: list[int] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    passed: bool = False
    fail_reasons: list[str] = field(default_factory=list)

    def summary(self, p99_limit_ms: float) -> dict[str, Any]:
        lat = sorted(self.latencies_us)
        ack = sorted(self.ack_latencies_us)
        p99_ms = percentile(lat, 99) / 1000.0
        reasons: list[str] = []
        if self.lost:
            reasons.append(f"lost={self.lost}")
        if self.unacked:
            reasons.append(f"unacked={self.unacked}")
        if self.dropped:
            reasons.append(f"dropped={self.dropped}")
        if self.errors:
            reasons.append("errors=" + ",".join(f"{k}:{v}" for k, v in self.errors.items()))
        if not lat:
            reasons.append("no deliveries")
        elif p99_ms >= p99_limit_ms:
            reasons.append(f"p99={p99_ms:.1f}ms")
        if self.send_seconds > 0 and self.planned:
            planned_s = self.planned / self.rate
            if self.send_seconds > planned_s * 1.2 + 0.5:
                reasons.append(f"send backlog ({self.send_seconds:.1f}s for {planned_s:.1f}s)")
        self.fail_reasons = reasons
        self.passed = not reasons
        frames = max(1, self.frames)
        return {
            "rate": self.rate,
            "planned": self.planned,
            "sent": self.sent,
            "acked": self.acked,
            "achieved_rate": self.sent / self.send_seconds if self.send_seconds else 0.0,
            "frames": self.frames,
            "expected": self.expected,
            "received": self.received,
            "lost": self.lost,
            "unacked": self.unacked,
            "dropped": self.dropped,
            "duplicates": self.duplicates,
            "late_after_sync": self.late_after_sync,
            "sync_requests": self.sync_requests,
            "recovered_by_sync": self.recovered_by_sync,
            "errors": dict(self.errors),
            "p50_ms": percentile(lat, 50) / 1000.0,
            "p99_ms": p99_ms,
            "max_ms": (lat[-1] / 1000.0) if lat else float("nan"),
            "ack_p50_ms": percentile(ack, 50) / 1000.0,
            "ack_p99_ms": percentile(ack, 99) / 1000.0,
            "cpu_us_per_frame": 1e6 * self.cpu.get("server_cpu_s", 0.0) / frames,
            **self.cpu,
            "passed": self.passed,
            "fail_reasons": reasons,
        }
