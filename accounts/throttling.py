"""Brute-force protection for logins, shared by the REST and web doors.

Fixed windows counted in the cache (Redis in production), so every server process
shares one count per username and per client address.
"""

import time

from django.conf import settings
from django.core.cache import cache

from chatproject.errors import Throttled


def _parse(rate: str) -> tuple[int, int]:
    limit, _, seconds = rate.partition("/")
    return int(limit), int(seconds or 60)


def _hit(key: str, rate: str) -> float | None:
    """Counts one attempt; returns the seconds to wait if over the limit."""
    limit, window = _parse(rate)
    now = time.time()
    bucket = int(now // window)
    cache_key = f"login-limit:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window + 1)
        count = 1
    if count > limit:
        return (bucket + 1) * window - now
    return None


def login_attempt_check(*, username: str, address: str) -> None:
    """Raises Throttled when this username or this address has tried too often."""
    if settings.THROTTLE_DISABLED:
        return
    waits = [
        _hit(f"user:{username.strip().lower()}", settings.LOGIN_LIMIT_PER_USERNAME),
        _hit(f"addr:{address}", settings.LOGIN_LIMIT_PER_ADDRESS),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise Throttled("Too many login attempts; try again later.", wait=wait)
