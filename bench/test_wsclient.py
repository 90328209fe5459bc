"""Unit test of the load generator's client-side seq tracking (no server needed)."""

import asyncio

from bench.wsclient import OursClient, SharedState, make_body


class FakeWS:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, s: str) -> None:
        self.sent.append(s)


def msg(room: int, seq: int, cid: str = "x") -> dict[str, object]:
    return {"id": room * 1000 + seq, "seq": seq, "room": room, "body": make_body(cid, 0), "client_id": cid}


async def test_gap_sync_dedupe_and_ack_tracking() -> None:
    """Drives OursClient with synthetic frames: dup, gap+sync, late live, ack, paging."""
    shared = SharedState()
    c = OursClient(shared, "ws://x", "t", gap_grace=0.05)
    c.ws = FakeWS()  # type: ignore[assignment]
    c._on_frame({"type": "hello", "user": {}, "rooms": [{"id": 1, "last_seq": 0, "unread_count": 0}]})
    c._on_frame({"type": "message.new", "message": msg(1, 1)})
    c._on_frame({"type": "message.new", "message": msg(1, 1)})  # dup
    assert shared.step.duplicates == 1
    c._on_frame({"type": "message.new", "message": msg(1, 3)})  # gap: 2 missing
    c._on_frame({"type": "message.new", "message": msg(1, 4)})
    assert c.rooms[1].last == 1 and c.rooms[1].ahead == {3, 4}
    await asyncio.sleep(0.1)
    assert '"type":"sync"' in c.ws.sent[-1] and '"after":1' in c.ws.sent[-1]
    c._on_frame({"type": "sync", "room": 1, "messages": [msg(1, 2), msg(1, 3)], "has_more": False})
    assert c.rooms[1].last == 4, c.rooms[1]
    assert shared.step.recovered_by_sync == 1
    c._on_frame({"type": "message.new", "message": msg(1, 2)})  # late live after sync
    assert shared.step.late_after_sync == 1 and shared.step.duplicates == 1
    # sender path: ack before message.new
    await c.send_message(1, "cid5", 0)
    c._on_frame({"type": "message.ack", "client_id": "cid5", "message": msg(1, 5, "cid5")})
    assert c.rooms[1].last == 5 and shared.room_max_acked[1] == 5 and shared.step.acked == 1
    c._on_frame({"type": "message.new", "message": msg(1, 5, "cid5")})
    assert shared.step.duplicates == 1 and shared.step.late_after_sync == 2
    # ack gap (ack for 7 while 6 in flight) shouldn't sync immediately
    n = len(c.ws.sent)
    await c.send_message(1, "cid7", 0)
    c._on_frame({"type": "message.ack", "client_id": "cid7", "message": msg(1, 7, "cid7")})
    c._on_frame({"type": "message.new", "message": msg(1, 6)})
    await asyncio.sleep(0.1)
    assert c.rooms[1].last == 7 and len(c.ws.sent) == n + 1, c.ws.sent[n:]
    # has_more paging
    c._on_frame({"type": "message.new", "message": msg(1, 10)})
    await asyncio.sleep(0.1)
    c._on_frame({"type": "sync", "room": 1, "messages": [msg(1, 8)], "has_more": True})
    await asyncio.sleep(0.01)
    assert '"after":8' in c.ws.sent[-1], c.ws.sent[-1]
    c._on_frame({"type": "sync", "room": 1, "messages": [msg(1, 9), msg(1, 10)], "has_more": False})
    assert c.rooms[1].last == 10 and not c.rooms[1].ahead
    assert len(shared.step.latencies_us) == 8
