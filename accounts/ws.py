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

from accounts.devices import device_touch


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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port made explicit; None if malformed."""
    try:
        parsed = urlsplit(origin.strip().lower())
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.hostname or parsed.path not in ("", "/"):
        return None
    return parsed.scheme, parsed.hostname, port or _DEFAULT_PORTS[parsed.scheme]


def _connection_is_secure(scope: dict) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    # Behind a TLS-terminating proxy (BEHIND_TLS_PROXY), as Django's request.is_secure().
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, value = proxy_header
        forwarded = header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        return forwarded is not None and forwarded.split(",")[0].strip().lower() == value
    return False


def _allowed_hosts() -> list[str]:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return allowed


def origin_allowed(origin: str, scope: dict | None = None) -> bool:
    """Django's CSRF Origin rules, for the handshake: scheme, host and port must match.

    Accepted: the origin of this very connection (the scheme it arrived on, and its Host
    header, which must itself be an allowed host), or an entry of CSRF_TRUSTED_ORIGINS
    (exact, or `https://*.example.com` for subdomains, same scheme and port). So
    `https://` on a plain-http server, or another port of an allowed host, is refused.
    """
    parts = _origin_parts(origin)
    if parts is None:
        return False
    if scope is not None:
        host = header(scope, b"host")
        if host:
            domain, _ = split_domain_port(host.lower())
            scheme = "https" if _connection_is_secure(scope) else "http"
            own = _origin_parts(f"{scheme}://{host}")
            if own is not None and parts == own and validate_host(domain, _allowed_hosts()):
                return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            scheme, _, rest = trusted.lower().partition("://")
            pattern = _origin_parts(f"{scheme}://{rest.replace('*.', 'wildcard.', 1)}")
            if pattern is None or (pattern[0], pattern[2]) != (parts[0], parts[2]):
                continue
            suffix = pattern[1].removeprefix("wildcard")  # ".example.com"
            if parts[1].endswith(suffix) or parts[1] == suffix[1:]:
                return True
        elif _origin_parts(trusted) == parts:
            return True
    return False


def origin_refused(scope: dict) -> bool:
    """A foreign Origin is refused at the handshake; a missing one (native apps) is not."""
    origin = header(scope, b"origin")
    return origin is not None and not origin_allowed(origin, scope)


def cookie_auth_allowed(scope: dict) -> bool:
    """Cookies count only from a browser page of ours (it sends our Origin)."""
    return header(scope, b"origin") is not None


def session_user(scope: dict):
    """The active user of the session cookie, or None. Runs queries: call it in a thread."""
    identity = session_identity(scope)
    return identity[0] if identity else None


def session_identity(scope: dict):
    """(active user, device id) of the session cookie, or None. Runs queries: call it in a thread."""
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
    if not user.is_authenticated:
        return None
    device_touch(store.get("device_id"))
    return user, store.get("device_id")
