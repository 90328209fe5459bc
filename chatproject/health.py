"""Operations endpoints: liveness, readiness and this process's Prometheus metrics."""

import asyncio
import hmac
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

from chatproject import shutdown
from chatproject.metrics import DB_POOL_IN_USE, READY, REDIS_ROUNDTRIP_SECONDS
from chatproject.realtime import realtime_ready

PROBE_TIMEOUT_SECONDS = 3


async def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _database_probe() -> None:
    """The readiness check of the database, on a thread of its own.

    Not the request's thread: while the database hangs, a check that timed out would
    hold that thread, and so the 503, until the pool gave up. Its connection goes back
    to the pool at once (this thread serves no request that would close it).
    """
    try:
        _database_ok()
    finally:
        connection.close()


def _realtime_ok() -> None:
    if not realtime_ready():
        raise RuntimeError("the real-time hub's Redis subscription is down or Redis does not answer")


async def readyz(request):
    """What the server really uses: the database and the hub's Redis; 503 while shutting down."""
    if shutdown.draining():
        return JsonResponse({"status": "unavailable", "failing": {"process": "shutting down"}}, status=503)
    checks = {
        "database": sync_to_async(_database_probe, thread_sensitive=False),
        "realtime": sync_to_async(_realtime_ok, thread_sensitive=False),
    }
    failing = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), PROBE_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure means not ready; name it
            failing[name] = f"{type(exc).__name__}: {exc}"[:200]
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing}, status=503)
    return JsonResponse({"status": "ok"})


def _ready_now() -> bool:
    try:
        _database_ok()
        _realtime_ok()
    except Exception:
        return False
    return True


def _sample_db_pool() -> None:
    db = connections["default"]
    if db.vendor != "postgresql" or not db.settings_dict.get("OPTIONS", {}).get("pool"):
        return
    stats = db.pool.get_stats()
    DB_POOL_IN_USE.set(stats.get("pool_size", 0) - stats.get("pool_available", 0))


_redis_clients: dict[str, object] = {}


def _sample_redis_roundtrip() -> None:
    if not settings.REDIS_URL:
        return
    client = _redis_clients.get(settings.REDIS_URL)
    if client is None:
        import redis

        client = _redis_clients[settings.REDIS_URL] = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
    started = time.perf_counter()
    try:
        client.ping()
    except Exception:  # readyz reports it; a scrape still answers
        return
    REDIS_ROUNDTRIP_SECONDS.observe(time.perf_counter() - started)


def metrics(request: HttpRequest) -> HttpResponse:
    """This process's metrics (Prometheus scrapes every process, never through the proxy)."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return JsonResponse({"detail": "Metrics need the metrics token.", "code": "permission_denied"}, status=403)
    # Sampled on scrape: readiness, the pool's lent-out connections, one PING to Redis.
    READY.set(0 if shutdown.draining() or not _ready_now() else 1)
    _sample_db_pool()
    _sample_redis_roundtrip()
    return ExportToDjangoView(request)
