"""Every Prometheus metric of the project, named as in the wire contract's "Metrics" section.

One module so that each name is registered once (prometheus_client refuses a second
registration) and an operator finds every series in one place. Apps import the metric
they update; nothing here imports an app.
"""

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_SENT = Counter("chat_messages_sent_total", "Messages stored, by the door they came through.", ["door"])
WEBSOCKET_CONNECTIONS = Gauge(
    "chat_websocket_connections",
    "Open, authenticated WebSocket connections of this process.",
    multiprocess_mode="livesum",
)
DELIVERY_SECONDS = Histogram(
    "chat_delivery_seconds",
    "From the commit of an event to its frame being handed to a socket.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_DROPPED = Counter(
    "chat_events_dropped_total",
    "Real-time events the server knows it did not deliver (clients recover them with sync).",
    ["reason"],
)
SEND_BATCH_SIZE = Histogram(
    "chat_send_batch_size",
    "WebSocket sends stored in one transaction (messaging/batching.py); 1 on a quiet server.",
    buckets=(1, 2, 5, 10, 20, 50, 100),
)
EVENTS_PUBLISHED = Counter("chat_events_published_total", "Events published to the real-time hub.")
THROTTLED = Counter("chat_throttled_total", "Requests and frames refused by a rate limit, by scope.", ["scope"])
SLOW_DISCONNECTS = Counter(
    "chat_slow_disconnects_total", "Connections closed with 4008 because their send buffer overflowed."
)
DB_POOL_IN_USE = Gauge(
    "chat_db_pool_connections_in_use",
    "PostgreSQL pool connections lent out in this process.",
    multiprocess_mode="livesum",
)
REDIS_ROUNDTRIP_SECONDS = Histogram(
    "chat_redis_roundtrip_seconds",
    "Time of a Redis PING from this process.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
REALTIME_EVENTS_RECEIVED = Counter(
    "chat_realtime_events_received_total",
    "Events this process read from Redis pub/sub (only for groups it has sockets in).",
)

READY = Gauge(
    "chat_ready",
    "1 when this process is ready (what /readyz checks: the database and the hub's Redis), set at each scrape.",
    multiprocess_mode="liveall",
)


def observe_delivery(event: dict[str, Any]) -> None:
    """Called once a frame is handed to a socket: time since its commit (stamped by publish_on_commit)."""
    committed_at = event.get("committed_at")
    if committed_at is not None:
        # Wall clock, not monotonic: the commit may have happened in another process.
        DELIVERY_SECONDS.observe(max(time.time() - committed_at, 0.0))


PRESENCE_STORE_ERRORS = Counter(
    "chat_presence_store_errors_total",
    "Presence store (Redis) calls that failed; presence degrades to offline meanwhile.",
)
