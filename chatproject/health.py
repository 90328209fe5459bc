"""Liveness and readiness probes."""

import asyncio

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import JsonResponse

from chatproject.realtime import realtime_ready

PROBE_TIMEOUT_SECONDS = 3


async def healthz(request):
    return JsonResponse({"status": "ok"})


def _database_ok() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer_ok() -> None:
    if not realtime_ready():
        raise RuntimeError("this process's real-time subscription (Redis) is down")


async def readyz(request):
    checks = {
        "database": sync_to_async(_database_ok, thread_sensitive=True),
        "channel_layer": _channel_layer_ok,
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
