"""End-of-scenario audit against REST history: exactly-once storage, full coverage."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.api import bounded, fetch_history
from bench.wsclient import OursClient

if TYPE_CHECKING:
    from bench.scenarios import Ctx, Fleet


async def audit_ours(ctx: Ctx, fleet: Fleet) -> dict[str, Any]:
    """Check every acked message is in the database exactly once and seen by every member.

    Reads history with GET rooms/{id}/messages/?after=&limit= (paged).  Member
    connections still behind the newest message get one tail `sync` (what a
    client does on reconnect); whatever is still missing afterwards is lost.
    """
    assert ctx.rest is not None
    rest = ctx.rest
    shared = ctx.shared
    t0 = time.monotonic()
    rooms = list(fleet.members)

    async def history(room: int) -> list[dict[str, Any]]:
        return await fetch_history(rest.get(), fleet.owners[room], room, 0, ctx.args.page_limit)

    histories = dict(zip(rooms, await bounded(rooms, history, ctx.args.rest_concurrency), strict=True))
    problems: list[str] = []
    db_messages = 0
    db_dup_client_ids = 0
    seq_gaps = 0
    acked_missing = 0
    acked_mismatch = 0
    room_max: dict[int, int] = {}
    by_cid: dict[str, dict[str, Any]] = {}
    for room, msgs in histories.items():
        db_messages += len(msgs)
        seqs = [int(m["seq"]) for m in msgs]
        if seqs != list(range(1, len(seqs) + 1)):
            seq_gaps += 1
            problems.append(f"room {room}: seqs not 1..{len(seqs)} ascending")
        room_max[room] = max(seqs, default=0)
        counts = Counter(m.get("client_id") for m in msgs)
        dups = {cid: n for cid, n in counts.items() if cid and n > 1}
        db_dup_client_ids += sum(n - 1 for n in dups.values())
        for m in msgs:
            if m.get("client_id"):
                by_cid[m["client_id"]] = m
    for cid, acked in shared.acked.items():
        if int(acked["room"]) not in histories:
            continue
        stored = by_cid.get(cid)
        if stored is None:
            acked_missing += 1
        elif stored["id"] != acked["id"] or int(stored["seq"]) != int(acked["seq"]):
            acked_mismatch += 1
    acked_here = sum(1 for m in shared.acked.values() if int(m["room"]) in histories)
    if db_messages != acked_here:
        problems.append(f"database has {db_messages} messages, {acked_here} were acked")

    def deficit() -> int:
        total = 0
        for room, members in fleet.members.items():
            for c in members:
                assert isinstance(c, OursClient)
                total += c.behind(room, room_max[room])
        return total

    behind_before = deficit()
    if behind_before:
        for room, members in fleet.members.items():
            for c in members:
                assert isinstance(c, OursClient)
                if not c.closed and c.behind(room, room_max[room]):
                    c.request_sync(room)
        deadline = time.monotonic() + ctx.args.drain_seconds
        while time.monotonic() < deadline and deficit():  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.05)
    lost = deficit()
    ok = not (lost or acked_missing or acked_mismatch or db_dup_client_ids or seq_gaps)
    result = {
        "rooms": len(rooms),
        "db_messages": db_messages,
        "acked": acked_here,
        "acked_missing": acked_missing,
        "acked_mismatch": acked_mismatch,
        "db_duplicate_client_ids": db_dup_client_ids,
        "rooms_with_seq_gaps": seq_gaps,
        "tail_recovered": behind_before - lost,
        "lost": lost,
        "problems": problems[:20],
        "contract_notes": sorted(shared.contract_notes),
        "seconds": time.monotonic() - t0,
        "passed": ok,
    }
    print(
        f"  audit: db={db_messages} acked={acked_here} missing={acked_missing} "
        f"dup={db_dup_client_ids} gaps={seq_gaps} tail_recovered={behind_before - lost} "
        f"lost={lost} -> {'OK' if ok else 'FAILED'}",
        flush=True,
    )
    return result
