"""Sign-outs and bans reach sockets on other processes: real daphne and uvicorn, PostgreSQL, Redis.

Requests go to one server process, the sockets they must close are held by the other
(and by the same one), as behind a load balancer.
"""

import asyncio
import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts import roles
from accounts import services as account_services
from accounts.tests.factories import PASSWORD
from accounts.tests.htmlform import form_fields
from chatproject.testing import ServerProcess, database_url_for_tests
from conftest import needs_services

# real_hashers: the servers verify passwords with the production hashers, not the tests' fast one.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.services,
    pytest.mark.real_hashers,
]

CLOSE_WITHIN = 5  # seconds, as the contract says


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    """One daphne and one uvicorn process on the test database, for the whole module."""
    needs_services(postgres=True, redis=True)
    env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL}
    with ServerProcess(env, server="daphne") as daphne, ServerProcess(env, server="uvicorn") as uvicorn:
        yield {"daphne": daphne, "uvicorn": uvicorn}


def call(server: ServerProcess, method: str, path: str, body=None, token=None, agent="TestApp/1.0"):
    """(status, json body) of a REST call; errors are answers too."""
    headers = {"Content-Type": "application/json", "User-Agent": agent}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.http}/api/v1/{path}", method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    return status, (json.loads(raw) if raw else None)


class Browser:
    """Cookies and CSRF like a browser posting our forms (the web login, the admin)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, method: str, path: str, fields: dict | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(fields, doseq=True).encode() if fields is not None else None
        request = urllib.request.Request(f"{self.server.http}{path}", method=method, data=data)
        request.add_header("User-Agent", "Mozilla/5.0 (X11; Linux) TestBrowser/1.0")
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", ""), exc.read().decode()

    def submit(self, path: str, form_id: str | None = None, action: str | None = None, **changes):
        """Loads the page at `path`, posts its form (to `action`, default the same path) with changes."""
        status, _, page = self.request("GET", path)
        assert status == 200, (path, status)
        fields = form_fields(page, form_id)
        for name, value in changes.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = [value]
        return self.request("POST", action or path, fields)

    def log_in(self, username: str, path: str = "/accounts/login/") -> None:
        status, _, _ = self.submit(path, None, username=username, password=PASSWORD)
        assert status == 302

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is an answer to look at, not to follow


async def open_ws(server: ServerProcess, *, token: str | None = None, browser: Browser | None = None):
    if token:
        headers = {"Authorization": f"Bearer {token}"}
    else:
        headers = {"Cookie": browser.cookie_header, "Origin": server.http}
    ws = await websockets.connect(server.ws, additional_headers=headers)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello", hello
    return ws


async def closed_with(ws, timeout: float = CLOSE_WITHIN) -> int:
    """The close code the server sends within the timeout (frames before it are skipped)."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None


async def still_open(ws) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(5):
        while True:
            if json.loads(await ws.recv())["type"] == "pong":
                return True


async def sign_in(server, username: str, agent: str) -> dict:
    status, pair = await asyncio.to_thread(
        call, server, "POST", "auth/token/", {"username": username, "password": PASSWORD}, None, agent
    )
    assert status == 200, pair
    return pair


@pytest.mark.parametrize("holder", ["uvicorn", "daphne"])
async def test_signing_out_a_device_closes_its_sockets_on_another_process(servers, make_user, holder):
    """REST on one process; the device's sockets on the other one (and on the same one) close 4401."""
    other = "daphne" if holder == "uvicorn" else "uvicorn"
    rest, far, near = servers[other], servers[holder], servers[other]
    await db(make_user)("alice")
    phone = await sign_in(rest, "alice", "phone")
    tablet = await sign_in(rest, "alice", "tablet")
    tablet_far, tablet_near = await open_ws(far, token=tablet["access"]), await open_ws(near, token=tablet["access"])
    phone_far = await open_ws(far, token=phone["access"])

    status, listed = await asyncio.to_thread(call, rest, "GET", "auth/sessions/", None, phone["access"])
    assert status == 200 and {d["user_agent"]: d["current"] for d in listed} == {"phone": True, "tablet": False}
    tablet_id = next(d["id"] for d in listed if d["user_agent"] == "tablet")
    status, _ = await asyncio.to_thread(call, rest, "DELETE", f"auth/sessions/{tablet_id}/", None, phone["access"])
    assert status == 204

    assert await closed_with(tablet_far) == 4401
    assert await closed_with(tablet_near) == 4401
    assert await still_open(phone_far)  # the user's other device stays connected
    # The signed-out device's tokens no longer work anywhere, for REST or a new socket.
    for server in (rest, far):
        assert (await asyncio.to_thread(call, server, "GET", "me/", None, tablet["access"]))[0] == 401
    status, _ = await asyncio.to_thread(call, far, "POST", "auth/token/refresh/", {"refresh": tablet["refresh"]})
    assert status == 401
    again = await websockets.connect(far.ws, additional_headers={"Authorization": f"Bearer {tablet['access']}"})
    assert await closed_with(again) == 4401
    await phone_far.close()


async def test_password_change_signs_out_the_browser_and_its_socket_elsewhere(servers, make_user):
    """A web session's socket on uvicorn closes when the password changes through daphne."""
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    await db(make_user)("bob")
    browser = Browser(uvicorn)
    await asyncio.to_thread(browser.log_in, "bob")
    web_ws = await open_ws(uvicorn, browser=browser)
    phone = await sign_in(daphne, "bob", "phone")
    phone_ws = await open_ws(uvicorn, token=phone["access"])

    body = {"old_password": PASSWORD, "new_password": "a-much-better-passphrase-42"}
    status, _ = await asyncio.to_thread(call, daphne, "POST", "me/password/", body, phone["access"])
    assert status == 204
    assert await closed_with(web_ws) == 4401
    assert await still_open(phone_ws)
    status, location, _ = await asyncio.to_thread(browser.request, "GET", "/accounts/settings/")
    assert status == 302 and location.startswith("/accounts/login/")
    await phone_ws.close()


async def test_logout_all_from_the_web_settings_page(servers, make_user):
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    await db(make_user)("dan")
    browser = Browser(daphne)
    await asyncio.to_thread(browser.log_in, "dan")
    phone = await sign_in(daphne, "dan", "phone")
    phone_ws = await open_ws(uvicorn, token=phone["access"])
    web_ws = await open_ws(daphne, browser=browser)
    status, _, _ = await asyncio.to_thread(
        browser.submit, "/accounts/settings/", "sign-out-others", "/accounts/devices/sign-out-others/"
    )
    assert status == 302
    assert await closed_with(phone_ws) == 4401
    assert await still_open(web_ws)
    await web_ws.close()


async def test_deactivation_through_the_admin_form_closes_sockets_4403_and_refuses_tokens(servers, make_user):
    """A moderator unticks "active" on daphne's admin; the user's sockets on uvicorn close with 4403."""
    daphne, uvicorn = servers["daphne"], servers["uvicorn"]
    await db(roles.ensure_moderators_group)()
    moderator = await db(make_user)("mod")
    await db(account_services.user_set_moderator)(user=moderator, is_moderator=True)
    carol = await db(make_user)("carol")
    phone = await sign_in(daphne, "carol", "phone")
    sockets = [await open_ws(uvicorn, token=phone["access"]), await open_ws(daphne, token=phone["access"])]

    admin = Browser(daphne)
    await asyncio.to_thread(admin.log_in, "mod", "/admin/login/")
    path = f"/admin/accounts/user/{carol.pk}/change/"
    status, _, _ = await asyncio.to_thread(admin.submit, path, "user_form", is_active=None, reason="spam")
    assert status == 302
    for ws in sockets:
        assert await closed_with(ws) == 4403
    for server in (daphne, uvicorn):
        assert (await asyncio.to_thread(call, server, "GET", "me/", None, phone["access"]))[0] == 401
    status, _ = await asyncio.to_thread(call, uvicorn, "POST", "auth/token/refresh/", {"refresh": phone["refresh"]})
    assert status == 401
