"""In a real Chromium: Swagger UI with no outside network, and the web UI across a graceful restart."""

import pytest

from messaging.tests.test_browser import expect, log_in, message, new_page, shared_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every WebSocket close code the page sees, before the page's own scripts run.
RECORD_CLOSES = """
window.__closeCodes = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", (event) => window.__closeCodes.push(event.code));
  }
};
"""


def test_api_docs_render_with_every_outside_request_blocked(server, browser):
    page = new_page(browser, server)
    blocked, local = [], []

    def only_local(route):
        url = route.request.url
        if url.startswith(server.http):
            local.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_local)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Chat server API")
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/rooms/").first).to_be_visible()
    assert blocked == []
    assert any("/static/drf_spectacular_sidecar/" in url for url in local)


def test_web_ui_reconnects_on_1012_and_syncs_without_reloading(server, browser):
    _, alice_token = server.register("alice", "Alice")
    _, bob_token = server.register("bob", "Bob")
    room_id = shared_room(server, "ops", alice_token, bob_token)
    alice = new_page(browser, server)
    alice.context.add_init_script(RECORD_CLOSES)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    alice.evaluate("window.__samePage = true")

    server.stop()  # SIGTERM: the page's socket is closed with 1012
    expect(alice.locator("body")).to_have_attribute("data-connection", "offline")
    assert 1012 in alice.evaluate("window.__closeCodes")
    server.run_python(
        "from accounts.models import User; from messaging.services import message_send\n"
        f"message_send(sender=User.objects.get(username='bob'), room_id={room_id}, body='while restarting')\n"
    )
    server.start_again()
    # The page backs off while no server answers (up to 15 s between tries), then comes back.
    expect(alice.locator("body")).to_have_attribute("data-connection", "online", timeout=30_000)
    expect(message(alice, "while restarting")).to_have_count(1)  # synced, not reloaded
    server.call("POST", f"rooms/{room_id}/messages/", {"body": "live again"}, bob_token)
    expect(message(alice, "live again")).to_have_count(1)
    assert alice.evaluate("window.__samePage") is True
