"""The client address every limit keys on: the peer, or X-Forwarded-For only from trusted proxies."""

import ipaddress

import pytest
from django.test import RequestFactory

from chatproject.clientaddr import client_address


@pytest.fixture
def trusted(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def request(peer: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def scope(peer: str, *forwarded: str) -> dict:
    return {"client": [peer, 50000], "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address(request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"
    assert client_address(scope("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


def test_an_untrusted_peer_cannot_forward(trusted):
    assert client_address(request("203.0.113.5", "198.51.100.1")) == "203.0.113.5"


def test_a_trusted_proxy_forwards_the_address_it_saw(trusted):
    assert client_address(request("10.0.0.2", "198.51.100.1")) == "198.51.100.1"
    assert client_address(scope("10.0.0.2", "198.51.100.1")) == "198.51.100.1"


def test_entries_written_by_the_client_are_skipped(trusted):
    # The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended what it saw.
    assert client_address(request("10.0.0.2", "1.1.1.1, 198.51.100.1")) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop(trusted):
    assert client_address(request("10.0.0.2", "1.1.1.1, 198.51.100.1, 10.5.5.5")) == "198.51.100.1"
    # Two headers are one list, in order (the WebSocket door reads the raw headers).
    assert client_address(scope("10.0.0.2", "1.1.1.1, 198.51.100.1", "10.5.5.5")) == "198.51.100.1"


def test_garbage_stops_the_walk_at_the_last_vouched_address(trusted):
    assert client_address(request("10.0.0.2", "not-an-ip, 10.5.5.5")) == "10.5.5.5"
    assert client_address(request("10.0.0.2", "")) == "10.0.0.2"


def test_ipv6_and_ports(trusted):
    assert client_address(request("fd00::1", "[2001:db8::7]:4711")) == "2001:db8::7"
    assert client_address(request("10.0.0.2", "198.51.100.1:5555")) == "198.51.100.1"
    assert client_address(request("::ffff:203.0.113.5")) == "203.0.113.5"


def test_no_peer_is_unknown():
    assert client_address({"headers": []}) == "unknown"
    assert client_address(request("")) == "unknown"
