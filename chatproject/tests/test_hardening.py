"""Browser hardening: the WebSocket Origin check, CORS for the REST API, the CSP header."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts.tests.factories import PASSWORD
from accounts.ws import origin_allowed
from testsupport.wsclient import communicator

CSP = "Content-Security-Policy"


def scope(host: str, scheme: str = "ws", **headers: str) -> dict:
    raw = [(b"host", host.encode())] + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": raw}


# --- Origin: scheme, host and port -----------------------------------------------------
@pytest.mark.parametrize(
    "origin,host,scheme,allowed",
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),  # the page's own origin
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws", False),  # https page, plain server
        ("http://127.0.0.1:9000", "127.0.0.1:8000", "ws", False),  # another port of an allowed host
        ("http://127.0.0.1", "127.0.0.1:8000", "ws", False),
        ("http://127.0.0.1", "127.0.0.1", "ws", True),  # default ports on both sides
        ("http://127.0.0.1:80", "127.0.0.1", "ws", True),
        ("https://localhost", "localhost", "wss", True),  # wss: the page is https
        ("http://localhost", "localhost", "wss", False),
        ("http://evil.example:8000", "evil.example:8000", "ws", False),  # its Host is not ours
        ("null", "127.0.0.1:8000", "ws", False),
        ("http://127.0.0.1:8000/path", "127.0.0.1:8000", "ws", False),
    ],
)
def test_origin_must_match_scheme_host_and_port(origin, host, scheme, allowed):
    assert origin_allowed(origin, scope(host, scheme)) is allowed


def test_origin_behind_a_tls_proxy_uses_the_forwarded_scheme(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = scope("localhost", "ws", x_forwarded_proto="https")
    assert origin_allowed("https://localhost", forwarded)
    assert not origin_allowed("http://localhost", forwarded)


def test_trusted_origins_match_exactly_or_by_subdomain_wildcard(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.chat.example.org"]
    elsewhere = scope("127.0.0.1:8000")
    assert origin_allowed("https://app.example.com", elsewhere)
    assert origin_allowed("https://app.example.com:443", elsewhere)
    assert not origin_allowed("http://app.example.com", elsewhere)
    assert not origin_allowed("https://app.example.com:8443", elsewhere)
    assert origin_allowed("https://eu.chat.example.org", elsewhere)
    assert origin_allowed("https://chat.example.org", elsewhere)
    assert not origin_allowed("http://eu.chat.example.org", elsewhere)
    assert not origin_allowed("https://evilchat.example.org", elsewhere)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_allowed_host_on_another_scheme_or_port_cannot_use_the_session_cookie(make_user):
    """The hole the issue names: https:// or another port of our host opened a cookie-authenticated socket."""
    await database_sync_to_async(make_user)("eve")

    @database_sync_to_async
    def cookie() -> tuple[bytes, bytes]:
        client = Client()
        assert client.login(username="eve", password=PASSWORD)
        return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    session = await cookie()
    for origin in (b"https://127.0.0.1:8000", b"http://127.0.0.1:8001"):
        comm = communicator((b"origin", origin), session)
        connected, _ = await comm.connect()
        assert not connected, origin  # refused at the handshake (HTTP 403 on a real server)
    comm = communicator((b"origin", b"http://127.0.0.1:8000"), session)
    connected, _ = await comm.connect()
    assert connected and (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


# --- CORS ------------------------------------------------------------------------------
def preflight(client: Client, origin: str, path: str = "/api/v1/rooms/"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )


@pytest.mark.django_db
def test_cors_is_off_by_default():
    response = preflight(Client(), "https://app.example.com")
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in Client().get("/api/v1/rooms/", HTTP_ORIGIN="https://x.example").headers


@pytest.mark.django_db
def test_cors_answers_listed_origins_only_and_only_for_the_api(settings, make_user):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    client = Client()
    allowed = preflight(client, "https://app.example.com")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in allowed.headers  # Bearer tokens, never cookies
    assert "access-control-allow-origin" not in preflight(client, "https://evil.example").headers
    page = client.get("/accounts/login/", HTTP_ORIGIN="https://app.example.com")
    assert "access-control-allow-origin" not in page.headers  # pages are not part of the API


# --- CSP -------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/admin/login/"])
def test_pages_carry_a_strict_csp(path):
    policy = Client().get(path).headers[CSP]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_signed_in_pages_carry_the_csp_and_no_inline_script(make_user):
    make_user("alice")
    client = Client()
    client.login(username="alice", password=PASSWORD)
    for path in ("/", "/accounts/settings/", "/rooms/browse/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "'unsafe-inline'" not in response.headers[CSP]
        body = response.content.decode()
        # Every script is a file (or inert JSON data); no inline handlers.
        for chunk in body.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, (path, head)
        assert " onclick=" not in body and " onload=" not in body and " style=" not in body


@pytest.mark.django_db
def test_swagger_ui_page_gets_only_what_it_needs():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    policy = response.headers[CSP]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "unsafe" not in script_src  # its start-up script is a file too (?script)
    assert "<script>" not in response.content.decode()
    assert Client().get("/api/docs/?script=").headers["Content-Type"].startswith("application/javascript")
