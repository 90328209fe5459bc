"""Failed-login lock-outs, through django-axes: only failures count, per username and per address.

Axes' cache handler keeps the counts in the default cache (Redis with REDIS_URL, so every
process shares them; process memory in the embedded default). It offers one failure limit
for every lockout parameter; ours differ (an address is shared by an office behind NAT, a
username is not), so this handler compares each parameter's count with its own limit.
"""

from axes.backends import AxesStandaloneBackend
from axes.handlers.cache import AxesCacheHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_cache_keys, get_credentials
from django.conf import settings


def login_username(request, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: usernames match case-insensitively, so `Alice` and `alice` share a count.

    The prefix keeps a username's count apart from an address's: axes keys both by a hash of
    the bare value, so without it failures for the username "10.0.0.5" would lock that address.
    """
    username = (credentials or {}).get("username")
    if username is None and request is not None:
        username = getattr(request, "POST", {}).get("username")
    if not isinstance(username, str):
        return None
    return f"user:{username.strip().lower()}"


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend (first in AUTHENTICATION_BACKENDS): refuses a locked-out username or address.

    Axes refuses any `authenticate()` without a request; only code inside the process calls
    it so (a test client's login, a script), never an HTTP door, so those pass through to the
    password check instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _limits() -> list[int]:
    # In the order of settings.AXES_LOCKOUT_PARAMETERS: ["username", "ip_address"].
    return [settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_ADDRESS]


class LoginLockoutHandler(AxesCacheHandler):
    """Axes' cache handler with one failure limit per lockout parameter."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        if not settings.AXES_LOCK_OUT_AT_FAILURE:
            return False
        keys = get_client_cache_keys(request, credentials)
        counts = self.cache.get_many(keys)
        return any(counts.get(key, 0) >= limit for key, limit in zip(keys, _limits(), strict=True))

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username: bool = False) -> int:
        # `manage.py axes_reset_username Alice` names the bare username; the counts are keyed
        # by login_username's form of it.
        if username is not None:
            username = login_username(None, {"username": username})
        return super().reset_attempts(ip_address=ip_address, username=username, ip_or_username=ip_or_username)


def login_lockout_wait(*, request, username: str) -> int | None:
    """Seconds to wait when this username or this client's address is locked out, else None.

    At most LOGIN_LOCKOUT_SECONDS: a lock ends that long after the failure that caused it
    (attempts refused during the lock do not extend it).
    """
    if not settings.AXES_ENABLED:
        return None
    if AxesProxyHandler.is_allowed(request, get_credentials(username=username)):
        return None
    return settings.LOGIN_LOCKOUT_SECONDS
