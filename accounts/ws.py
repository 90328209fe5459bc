"""The WebSocket handshake's rules: which Origins may connect, which credentials count.

Checked by the consumer itself rather than by a middleware stack, so a connection
keeps no session or cookie wrappers alive for its whole life (memory per idle socket).
"""

from http.cookies import SimpleCookie
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import auth
from django.http.request import split_domain_port, validate_host


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def bearer_token(scope: dict) -> str | None:
    raw = header(scope, b"authorization")
    if not raw:
        return None
    kind, _, token = raw.partition(" ")
    return token.strip() if kind.lower() == "bearer" and token.strip() else None


def origin_allowed(origin: str) -> bool:
    """Same rules as Django's CSRF check: our own hosts, or an explicitly trusted origin."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    host, _ = split_domain_port(parsed.netloc)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return validate_host(host, allowed)


def origin_refused(scope: dict) -> bool:
    """A foreign Origin is refused at the handshake; a missing one (native apps) is not."""
    origin = header(scope, b"origin")
    return origin is not None and not origin_allowed(origin)


def cookie_auth_allowed(scope: dict) -> bool:
    """Cookies count only from a browser page of ours (it sends our Origin)."""
    return header(scope, b"origin") is not None


def session_user(scope: dict):
    """The active user of the session cookie, or None. Runs queries: call it in a thread."""
    raw = header(scope, b"cookie")
    if not raw:
        return None
    cookie = SimpleCookie()
    cookie.load(raw)
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    # Django's own get_user: checks the backend, the session hash and is_active.
    user = auth.get_user(SimpleNamespace(session=store))
    return user if user.is_authenticated else None
