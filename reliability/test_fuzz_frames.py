"""Scenario 6a: generated bad frames over real servers. 0 `internal` errors, only contract close codes, pings answered.

Frames are built from the contract's frame types and field names, with wrong, missing,
huge, negative, nested and non-ASCII values (and some right ones, so handlers go deep).
Run on the production server (uvicorn) with PostgreSQL and on `make run`'s (daphne) with
the embedded SQLite database, whose integer range is where ids used to crash handlers.
"""

import asyncio
import json
import os
import threading

import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reliability.clients import ChatClient
from reliability.report import Row
from reliability.scenario import make_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

BATCH = 50
BATCHES = 40  # 2,000 frames per server
TYPES = ["message.send", "typing", "read", "delivered", "sync", "presence", "ping", "auth"]
FIELDS = ["room", "body", "client_id", "reply_to", "attachments", "state", "up_to", "after", "limit", "status", "token"]
# What the contract lets the server answer with: error codes, and close codes.
ERROR_CODES = {
    "not_authenticated",
    "permission_denied",
    "not_found",
    "invalid",
    "throttled",
    "too_large",
    "unavailable",
}
CLOSE_CODES = {1009, 4008, 4429}

edge_ints = st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40])
small_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    edge_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0x80), max_size=40),
    st.sampled_from(["", " ", "start", "stop", "online", "away", "offline", "\x00", "💬" * 10, "1", "-1"]),
    st.builds(lambda n: "x" * n, st.sampled_from([10_001, 20_000])),  # over the body limit
)
huge = st.builds(lambda n: "x" * n, st.sampled_from([40_000, 70_000]))  # toward and over 64 KiB


def nested(scalars):
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=8,
    )


def frames(room_ids: list[int], *, oversized: bool = True):
    values_here = nested(small_scalars)
    room_like = st.one_of(st.sampled_from(room_ids), values_here)
    field_values = {name: values_here for name in FIELDS} | {"room": room_like}
    frame = st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(TYPES), values_here)},
        optional={name: strategy for name, strategy in field_values.items()},
    )
    encoded = frame.map(json.dumps).filter(lambda text: len(text.encode()) <= 60_000)
    # About one frame in 40 carries a huge field: toward and over 64 KiB (a 1009 close, then a reconnect).
    big = st.builds(lambda f, name, value: json.dumps({**f, name: value}), frame, st.sampled_from(FIELDS), huge)
    normal = st.one_of(
        encoded, st.sampled_from(["", "{", "[]", "null", "1", '"x"', "{}" * 100, b"\xff\xfe", b'{"type": "ping"}'])
    )
    raw = st.integers(0, 39).flatmap(lambda n: big if n == 0 and oversized else normal)
    return st.lists(raw, min_size=BATCH, max_size=BATCH)


# FUZZ_SITES adds sites, e.g. "uvicorn-legacy+postgresql" (the kinds of chatproject.testing.UVICORN_WS).
SITES = ["uvicorn+postgresql", "daphne+sqlite", *filter(None, os.environ.get("FUZZ_SITES", "").split(","))]


@pytest.mark.parametrize("site", SITES)
def test_generated_frames_never_crash_a_handler(site, launch, redis_server, tmp_path, report):
    kind, database = site.split("+")
    if database == "postgresql":
        server = launch(kind, redis=redis_server)
        world = make_world(3, prefix="fz")
        room_ids, token = [world.room_id], world.tokens[0]
    else:
        from reliability.harness import embedded_site

        var_dir = tmp_path / "var"
        embedded = embedded_site(var_dir)
        server = launch(kind, database_url="", VAR_DIR=str(var_dir))
        room_ids, token = [embedded["room"]], embedded["tokens"][0]
    oversized = True  # both servers close a frame over 64 KiB with 1009 (chatproject/daphne_compat.py)

    # The client's loop runs all along on its own thread (it answers the server's keepalive
    # pings between hypothesis examples too); each batch is handed to it.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    client = ChatClient(lambda: [server.ws], token, "fuzzer")
    client.keep_frames = True
    run(client.connect())
    recent: list = []
    stats = {"frames": 0, "errors": {}, "closes": [], "internal": [], "bad_codes": [], "pings": 0}

    async def run_batch(batch: list[str]) -> None:
        for text in batch:
            if not client.open:
                code = client.close_codes[-1]
                stats["closes"].append(code)
                assert code in CLOSE_CODES, f"closed with {code} after {[str(t)[:200] for t in recent[-3:]]}"
                await client.connect()
            recent.append(text)
            del recent[:-5]
            try:
                await client.ws.send(text)
            except Exception:  # closed while sending: judged by its close code above
                continue
            stats["frames"] += 1
        await asyncio.sleep(0.3)  # let markers flush (they are coalesced)
        for _ in range(2):
            if not client.open:
                await asyncio.gather(client.reader, return_exceptions=True)
                stats["closes"].append(client.close_codes[-1])
                assert client.close_codes[-1] in CLOSE_CODES, f"closed with {client.close_codes[-1]}"
                await client.connect()
            try:
                await client.ping()
            except (ConnectionError, websockets.ConnectionClosed):
                await asyncio.sleep(0.2)  # closed by the last frames: judged above, then pinged again
                continue
            stats["pings"] += 1
            break
        for frame in client.frames:
            if frame.get("type") == "error":
                stats["errors"][frame["code"]] = stats["errors"].get(frame["code"], 0) + 1
                if frame["code"] == "internal":
                    stats["internal"].append(frame)
                elif frame["code"] not in ERROR_CODES:
                    stats["bad_codes"].append(frame)
        client.frames.clear()
        assert not stats["internal"], stats["internal"][:3]

    # No shrinking: it would replay batches against a live server for minutes; a failure
    # shows the frames sent just before it instead.
    @settings(
        max_examples=BATCHES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(frames(room_ids, oversized=oversized))
    def fuzz(batch: list) -> None:
        run(run_batch(batch))

    try:
        fuzz()
    finally:
        run(client.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    log = server.log_text()
    tracebacks = log.count("Traceback (most recent call last)")
    report.add(
        Row(
            f"6. Generated frames ({site})",
            "hypothesis: wrong, missing, huge, negative, nested, non-ASCII values in the contract's frames",
            f"{stats['frames']} frames in {stats['pings']} batches on one socket (reconnecting after a contract close)",
            "-",
            "-",
            "-",
            f"every batch's ping answered ({stats['pings']}/{stats['pings']})",
            f"0 internal errors; error codes {dict(sorted(stats['errors'].items()))}; closes "
            f"{sorted(set(stats['closes']))}; {tracebacks} tracebacks in the server log",
        )
    )
    assert stats["frames"] >= BATCH * BATCHES * 0.9
    assert stats["bad_codes"] == []
    assert stats["pings"] >= BATCHES
    assert tracebacks == 0
