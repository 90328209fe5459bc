"""The WebSocket handshake's rules: which Origins may connect, which credentials count."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
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


class OriginGuard:
    """Refuses a foreign Origin at the handshake (HTTP 403).

    Unlike Channels' AllowedHostsOriginValidator it lets a missing Origin through:
    native apps send none. Such a connection must then bring a token; the consumer
    ignores its cookies (`scope["cookie_auth_allowed"]`).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            origin = header(scope, b"origin")
            if origin is not None and not origin_allowed(origin):
                denier = WebsocketDenier()
                return await denier(scope, receive, send)
            scope = dict(scope, cookie_auth_allowed=origin is not None)
        return await self.app(scope, receive, send)
