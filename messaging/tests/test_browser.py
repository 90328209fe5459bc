"""The web UI in a real Chromium against a real server process (daphne), end to end.

The server gets the pytest test database on PostgreSQL, or its own migrated SQLite
file on the embedded default; Redis too when REDIS_URL is set. The tests reach the
server's data only through the server (REST) or `manage.py shell` while it is down:
Playwright's sync API runs an event loop in this thread, where Django's ORM refuses
to run.
"""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from accounts.tests.factories import PASSWORD
from chatproject.testing import ROOT, ServerProcess, database_url_for_tests
from conftest import REQUIRE_SERVICES

# The database mark gives the server the test database on PostgreSQL; on SQLite it is unused.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
LIVE_MS = 1000  # "appears live within a second"
WAIT_MS = 10_000
BACKOFF_MAX_MS = 15_000  # the cap in static/js/connection.js


def on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


# --- the server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path | None:
    """A migrated SQLite database, copied for each test's server (migrating once is the slow part)."""
    if on_postgres():
        return None
    var = tmp_path_factory.mktemp("browser-var")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, "VAR_DIR": str(var), "DATABASE_URL": ""},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return var


class ChatServer:
    """A ServerProcess that can be restarted on its port, with the data it serves."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process = ServerProcess(env, log=log).start()

    @property
    def http(self) -> str:
        return self.process.http

    def stop(self) -> None:
        self.process.stop()

    def start_again(self) -> None:
        self.process = ServerProcess(self.env, port=self.process.port, log=self.log).start()

    def run_python(self, code: str) -> None:
        """Runs code against the server's database from outside (while it is down, say)."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**os.environ, "DEBUG": "1", **self.env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]

    # REST, as a mobile client would use it.
    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None):
        request = urllib.request.Request(
            f"{self.http}/api/v1/{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def register(self, username: str, display_name: str) -> tuple[int, str]:
        """(user id, access token) of a new user."""
        user = self.call(
            "POST",
            "auth/register/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
                "display_name": display_name,
            },
        )
        tokens = self.call("POST", "auth/token/", {"username": username, "password": PASSWORD})
        return user["id"], tokens["access"]


@pytest.fixture
def server(migrated_sqlite, tmp_path):
    if on_postgres():
        env = {"DATABASE_URL": database_url_for_tests()}
    else:
        var = tmp_path / "var"
        shutil.copytree(migrated_sqlite, var)
        env = {"VAR_DIR": str(var), "DATABASE_URL": ""}
    env["REDIS_URL"] = settings.REDIS_URL or ""
    # Redis pub/sub ignores the database number: a prefix of our own keeps other servers
    # on the same Redis (another test run, a benchmark) from talking into this one.
    env["CACHE_PREFIX"] = env["CHANNEL_PREFIX"] = f"browser-{uuid.uuid4().hex[:12]}"
    chat = ChatServer(env, tmp_path / "server.log")
    yield chat
    chat.stop()


# --- the browser ---------------------------------------------------------------------------
@pytest.fixture
def browser(server):
    """Function-scoped and set up after `server`, so it is closed before the database is flushed."""
    if not Path(CHROMIUM).exists():
        reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# Every page runs under the server's Content-Security-Policy; a violation (a blocked
# inline script or style, an eval, a foreign source) fails the test that caused it.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""
csp_violations: list[str] = []


def _watch_console(message) -> None:
    text = message.text
    if "CSP violation" in text or "Content Security Policy" in text:
        csp_violations.append(text)


@pytest.fixture(autouse=True)
def no_csp_violations():
    csp_violations.clear()
    yield
    assert csp_violations == [], "the page broke its Content-Security-Policy"


def new_page(browser, server, **options):
    context = browser.new_context(base_url=server.http, **options)
    context.set_default_timeout(WAIT_MS)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    page.on("console", _watch_console)
    return page


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def sign_up(page, username: str, display_name: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name=f"Welcome, {display_name}")).to_be_visible()
    online(page)


def log_in(page, username: str, next_path: str = "/") -> None:
    page.goto(f"/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_path}")
    online(page)


def online(page) -> None:
    expect(page.locator("body")).to_have_attribute("data-connection", "online")


def send(page, text: str) -> None:
    page.get_by_label("Message", exact=False).last.fill(text)
    page.keyboard.press("Enter")


def message(page, text: str):
    return page.locator("#messages li.msg").filter(has=page.locator(".msg-body", has_text=text))


def room_badge(page, title: str):
    return page.locator(".room-item").filter(has_text=title).locator(".badge.unread")


def shared_room(server, name: str, owner_token: str, *member_tokens: str) -> int:
    room = server.call("POST", "rooms/", {"name": name, "kind": "public"}, owner_token)
    for token in member_tokens:
        server.call("POST", f"rooms/{room['id']}/join/", None, token)
    return room["id"]


# --- the tests -----------------------------------------------------------------------------
def test_two_users_chat_live(server, browser):
    alice, bob = new_page(browser, server), new_page(browser, server)
    sign_up(alice, "alice", "Alice")
    sign_up(bob, "bob", "Bob")

    alice.get_by_role("link", name="+ New room").click()
    alice.get_by_label("Name").fill("general")
    alice.get_by_label("Topic").fill("Everything and nothing")
    alice.get_by_label("Public").check()
    alice.get_by_role("button", name="Create room").click()
    expect(alice.get_by_role("heading", name="general")).to_be_visible()
    online(alice)

    bob.get_by_role("link", name="Browse rooms").click()
    bob.get_by_role("button", name="Join #general").click()
    expect(bob.get_by_role("heading", name="general")).to_be_visible()
    online(bob)
    expect(alice.locator("#member-count")).to_have_text("2")

    # A message appears live on the other side, and is read there (bob is looking).
    send(alice, "Hello Bob, welcome!")
    expect(message(bob, "Hello Bob, welcome!")).to_be_visible(timeout=LIVE_MS)
    mine = message(alice, "Hello Bob, welcome!")
    expect(mine.locator(".msg-status")).to_have_attribute("data-status", "read")
    expect(mine.locator(".msg-status")).to_have_attribute("aria-label", "Read")
    assert mine.count() == 1

    # Typing shows, and clears when the message arrives.
    bob.get_by_label("Message", exact=False).last.press_sequentially("Hi Ali")
    expect(alice.locator("#typing")).to_have_text("Bob is typing…", timeout=LIVE_MS)
    bob.keyboard.press("Enter")
    expect(message(alice, "Hi Ali")).to_be_visible(timeout=LIVE_MS)
    expect(alice.locator("#typing")).to_have_text("")

    # Bob looks elsewhere: alice's messages count as unread there, and are delivered, not read.
    bob.get_by_role("link", name="Chat", exact=True).click()
    online(bob)
    send(alice, "Are you there?")
    send(alice, "Lunch at noon?")
    expect(room_badge(bob, "general")).to_have_text("2 unread")
    expect(bob).to_have_title("(2) Home · Chat")
    last = message(alice, "Lunch at noon?").locator(".msg-status")
    expect(last).to_have_attribute("data-status", "delivered")

    # He opens the room: the badge clears and alice sees them read.
    bob.locator(".room-item").filter(has_text="general").get_by_role("link").click()
    expect(message(bob, "Lunch at noon?")).to_be_visible()
    expect(room_badge(bob, "general")).to_be_hidden()
    expect(bob).to_have_title("#general · Chat")
    expect(last).to_have_attribute("data-status", "read")


def test_direct_conversation_from_the_directory(server, browser):
    server.register("alice", "Alice")
    server.register("bob", "Bob")
    alice, bob = new_page(browser, server), new_page(browser, server)
    log_in(alice, "alice")
    log_in(bob, "bob")

    alice.get_by_role("link", name="People").click()
    alice.get_by_label("Search people").fill("bo")
    alice.keyboard.press("Enter")
    alice.get_by_role("button", name="Message Bob").click()
    expect(alice.get_by_role("heading", name="Bob")).to_be_visible()
    online(alice)

    # The conversation appears in bob's sidebar at once, with alice's presence.
    conversation = bob.locator("#direct-list .room-item").filter(has_text="Alice")
    expect(conversation).to_be_visible(timeout=LIVE_MS)
    expect(conversation.locator(".presence")).to_have_attribute("aria-label", "online")
    send(alice, "Got a minute?")
    expect(conversation.locator(".badge.unread")).to_have_text("1 unread", timeout=LIVE_MS)
    expect(bob.locator("#notifications-badge")).to_have_text("1")

    conversation.get_by_role("link").click()
    expect(message(bob, "Got a minute?")).to_be_visible()
    expect(bob.locator("#notifications-badge")).to_be_hidden()
    expect(message(alice, "Got a minute?").locator(".msg-status")).to_have_attribute("data-status", "read")

    # Alice's dot goes away when her tab closes.
    alice.context.close()
    expect(bob.locator("#direct-list .presence")).to_have_attribute("aria-label", "offline")


def test_server_restart_reconnects_syncs_and_sends_the_queue(server, browser):
    _, alice_token = server.register("alice", "Alice")
    _, bob_token = server.register("bob", "Bob")
    room_id = shared_room(server, "ops", alice_token, bob_token)
    server.call("POST", f"rooms/{room_id}/messages/", {"body": "before the restart"}, bob_token)
    alice = new_page(browser, server)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    expect(message(alice, "before the restart")).to_be_visible()

    server.stop()
    expect(alice.locator("#banner")).to_be_visible()
    expect(alice.locator("body")).to_have_attribute("data-connection", "offline")
    # Meanwhile bob writes (straight into the database: no server is up) and alice types.
    server.run_python(
        "from accounts.models import User; from messaging.services import message_send\n"
        "bob = User.objects.get(username='bob')\n"
        f"message_send(sender=bob, room_id={room_id}, body='missed one', client_id='m1')\n"
        f"message_send(sender=bob, room_id={room_id}, body='missed two', client_id='m2')\n"
    )
    send(alice, "typed while offline")
    expect(alice.locator("#messages li.pending")).to_have_count(1)
    expect(alice.locator("li.pending .msg-status")).to_have_attribute("aria-label", "Sending")

    server.start_again()
    # The page retries on its own; the backoff may have grown while the server was down
    # (slow to stop and start on a loaded machine), so allow one whole backoff period.
    expect(alice.locator("body")).to_have_attribute("data-connection", "online", timeout=BACKOFF_MAX_MS + WAIT_MS)
    expect(alice.locator("#banner")).to_be_hidden()
    # Acked: bob has not seen it (he is not online), so it is sent, no longer sending.
    expect(message(alice, "typed while offline").locator(".msg-status")).to_have_attribute("data-status", "sent")
    expect(alice.locator("#messages li.pending")).to_have_count(0)
    for text in ("before the restart", "missed one", "missed two", "typed while offline"):
        expect(message(alice, text)).to_have_count(1)
    seqs = [int(s) for s in alice.locator("#messages li.msg").evaluate_all("els => els.map(e => e.dataset.seq)")]
    assert seqs == [1, 2, 3, 4]
    stored = server.call("GET", f"rooms/{room_id}/messages/", None, bob_token)["results"]
    assert [m["body"] for m in stored].count("typed while offline") == 1
    assert alice.evaluate("sessionStorage.length === 0 || Object.values(sessionStorage).every(v => v === '[]')")


def test_user_text_is_shown_as_text_with_links_and_mentions(server, browser):
    _, alice_token = server.register("alice", "Alice")
    _, bob_token = server.register("bob", "Bob")
    room_id = shared_room(server, "lab", bob_token, alice_token)
    alice = new_page(browser, server)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    hostile = "<script>alert(1)</script> <b>bold</b> <img src=x onerror=alert(2)>"
    linked = "see https://example.com/a?b=1. @alice and @bob"

    server.call("POST", f"rooms/{room_id}/messages/", {"body": hostile}, bob_token)
    server.call("POST", f"rooms/{room_id}/messages/", {"body": linked}, bob_token)
    for rendering in ("live", "server-rendered"):
        if rendering == "server-rendered":
            alice.reload()
            online(alice)
        expect(alice.locator("#messages .msg-body").first).to_have_text(hostile)
        assert alice.locator("#messages script, #messages b, #messages img").count() == 0
        body = alice.locator("#messages .msg-body").nth(1)
        expect(body).to_have_text(linked)
        link = body.get_by_role("link")
        expect(link).to_have_attribute("href", "https://example.com/a?b=1")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
        expect(body.locator(".mention-me")).to_have_text("@alice")
        expect(body.locator(".mention:not(.mention-me)")).to_have_text("@bob")

    # Edits and deletions show live, as text too.
    first_id = alice.locator("#messages li.msg").first.get_attribute("data-id")
    second_id = alice.locator("#messages li.msg").nth(1).get_attribute("data-id")
    server.call("PATCH", f"messages/{first_id}/", {"body": "<i>edited</i>"}, bob_token)
    server.call("DELETE", f"messages/{second_id}/", None, bob_token)
    expect(alice.locator("#messages .msg-body").first).to_have_text("<i>edited</i>", timeout=LIVE_MS)
    expect(alice.locator("#messages .msg").first.locator(".edited")).to_have_text("(edited)")
    expect(alice.locator("#messages .msg-body").nth(1)).to_have_text("This message was deleted.")

    # On a phone, the room list hides behind a button.
    alice.set_viewport_size({"width": 390, "height": 760})
    expect(alice.locator("#sidebar")).to_be_hidden()
    alice.get_by_role("button", name="Rooms and conversations").click()
    expect(alice.locator("#sidebar")).to_be_visible()
    expect(alice.get_by_role("button", name="Rooms and conversations")).to_have_attribute("aria-expanded", "true")


def test_screenshot_of_a_conversation(server, browser):
    people = {
        name: server.register(name, display)
        for name, display in [
            ("alice", "Alice Martin"),
            ("bob", "Bob Chen"),
            ("carol", "Carol Diaz"),
            ("dan", "Dan Okafor"),
        ]
    }
    token = {name: token for name, (_, token) in people.items()}
    general = shared_room(server, "general", token["carol"], token["alice"], token["bob"], token["dan"])
    server.call("PATCH", f"rooms/{general}/", {"topic": "Company-wide announcements and chatter"}, token["carol"])
    random = shared_room(server, "random", token["dan"], token["alice"])
    server.call("POST", "rooms/", {"name": "design-review", "kind": "private"}, token["alice"])
    conversation = [
        ("carol", "Morning all! The staging deploy is done, release notes: https://example.com/releases/2.4"),
        ("bob", "Nice. Login feels snappier already."),
        ("dan", "@alice can you double-check the new onboarding copy before noon?"),
        ("alice", "On it, I'll send comments in 20 minutes."),
        ("alice", "Also: the <b>bold</b> tags in the old copy are gone, finally."),
        ("carol", "Standup moved to 10:15 today."),
        ("bob", "Thanks! Lunch at the usual place?"),
    ]
    for who, body in conversation:
        server.call("POST", f"rooms/{general}/messages/", {"body": body}, token[who])
    server.call("POST", f"rooms/{random}/messages/", {"body": "Anyone up for a board game night?"}, token["dan"])
    dm = server.call("POST", "dms/", {"user_ids": [people["alice"][0]]}, token["bob"])
    server.call("POST", f"rooms/{dm['id']}/messages/", {"body": "Got a sec for the slides?"}, token["bob"])

    bob = new_page(browser, server)
    log_in(bob, "bob", f"/rooms/{general}/")
    alice = new_page(browser, server, viewport={"width": 1280, "height": 800})
    log_in(alice, "alice", f"/rooms/{general}/")
    send(alice, "Count me in for lunch!")
    status = message(alice, "Count me in").locator(".msg-status")
    expect(status).to_have_attribute("data-status", "sent")  # acked; carol and dan have not seen it yet
    for name in ("carol", "dan"):
        server.call("POST", f"rooms/{general}/read/", {"up_to": len(conversation) + 1}, token[name])
    expect(status).to_have_attribute("data-status", "read")
    bob.get_by_label("Message", exact=False).last.press_sequentially("See you")
    expect(alice.locator("#typing")).to_have_text("Bob Chen is typing…")
    expect(alice).to_have_title("(2) #general · Chat")

    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=ARTIFACTS / "chat.png")
    docs = ROOT / "docs" / "screenshot.png"
    if not docs.exists() or os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / "chat.png", docs)
    assert (ARTIFACTS / "chat.png").stat().st_size > 10_000


def test_settings_page_signs_out_another_device_under_the_csp(server, browser):
    """The settings page lists devices; its sign-out button ends the other browser's session."""
    laptop = new_page(browser, server, user_agent="Mozilla/5.0 LaptopBrowser/1.0")
    phone = new_page(browser, server, user_agent="Mozilla/5.0 PhoneBrowser/1.0")
    sign_up(laptop, "erin", "Erin")
    log_in(phone, "erin")

    laptop.get_by_role("link", name="Erin").click()
    expect(laptop.get_by_role("heading", name="Signed-in devices")).to_be_visible()
    other = laptop.locator(".device").filter(has_text="PhoneBrowser")
    expect(other).to_be_visible()
    expect(laptop.locator(".device").filter(has_text="LaptopBrowser")).to_contain_text("this device")
    other.get_by_role("button", name="Sign out").click()
    expect(laptop.locator(".flash")).to_have_text("The device is signed out.")
    expect(laptop.locator(".device").filter(has_text="PhoneBrowser")).to_have_count(0)

    # The phone's socket is closed with 4401 within seconds, and the page goes to the login page.
    phone.wait_for_url("**/accounts/login/**", timeout=5000)


def test_admin_pages_work_under_the_csp(server, browser):
    """The moderators' admin (Django's own templates and scripts) is clean under the CSP too."""
    server.run_python(
        "from accounts.models import User;"
        f"u = User(username='root', email='root@example.com', is_staff=True, is_superuser=True);"
        f"u.set_password('{PASSWORD}'); u.save()"
    )
    page = new_page(browser, server)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    for path in ("/admin/accounts/user/", "/admin/accounts/user/1/change/", "/admin/accounts/auditlog/"):
        page.goto(path)
        expect(page.locator("#content")).to_be_visible()
    page.goto("/admin/accounts/user/")
    page.locator("input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option("deactivate")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_label("Reason (optional, kept in the audit log)")).to_be_visible()


def test_swagger_ui_renders_under_the_csp(server, browser):
    """/api/docs/ (Swagger UI from our own static files) works with only its page's allowances."""
    page = new_page(browser, server)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Chat server API", timeout=WAIT_MS)
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/auth/sessions/").first).to_be_visible()
