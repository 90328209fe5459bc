"""The client's address, the one every limit (logins, registration) and log line keys on.

The connecting peer, unless the peer is one of the proxies in TRUSTED_PROXIES: then the
right-most address of `X-Forwarded-For` that is not itself a trusted proxy. Anything a
client writes into that header before it reaches the first trusted proxy is ignored, so a
client cannot choose its own address (and its own rate-limit bucket) by sending the header.
"""

import ipaddress
from typing import Any

from django.conf import settings

UNKNOWN = "unknown"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse(raw: str) -> Address | None:
    raw = raw.strip()
    if raw.startswith("[") and "]" in raw:  # "[::1]:1234"
        raw = raw[1 : raw.index("]")]
    elif raw.count(":") == 1:  # "1.2.3.4:5678"
        raw = raw.partition(":")[0]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def _peer_and_forwarded(request_or_scope: Any) -> tuple[str, str | None]:
    if isinstance(request_or_scope, dict):  # an ASGI scope (the WebSocket door)
        client = request_or_scope.get("client")
        forwarded = None
        for name, value in request_or_scope.get("headers", []):
            if name == b"x-forwarded-for":
                # Several headers count as one comma-separated list, in order.
                value = value.decode("latin1")
                forwarded = value if forwarded is None else f"{forwarded},{value}"
        return (client[0] if client else ""), forwarded
    meta = getattr(request_or_scope, "META", {})
    return meta.get("REMOTE_ADDR", "") or "", meta.get("HTTP_X_FORWARDED_FOR")


def client_address(request_or_scope: Any) -> str:
    """The address of the client behind a request (HttpRequest, DRF Request) or an ASGI scope."""
    peer_raw, forwarded = _peer_and_forwarded(request_or_scope)
    peer = _parse(peer_raw) if peer_raw else None
    if peer is None:
        return peer_raw or UNKNOWN
    if not forwarded or not settings.TRUSTED_PROXIES or not _trusted(peer):
        return str(peer)
    client = peer
    # Walk from the nearest hop outwards; stop at the first address no trusted proxy vouches for.
    for hop in reversed(forwarded.split(",")):
        address = _parse(hop)
        if address is None:
            break  # garbage before a trusted proxy's entry: keep the last address a proxy vouched for
        client = address
        if not _trusted(address):
            break
    return str(client)
