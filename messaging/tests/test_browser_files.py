"""Files and search in the web UI, in a real Chromium against a real server and the real task worker.

Attach by button, by drag and drop and by paste; progress and cancel; errors next to the
composer with nothing sent; an image appears live at another member and gets its
thumbnail from the worker; search finds messages and file names and opens them in context.
"""

import io
import os
import re
import shutil
import uuid

import pytest
from django.conf import settings
from PIL import Image

from chatproject.testing import WorkerProcess, database_url_for_tests
from messaging.tests.test_browser import (  # noqa: F401  (fixtures)
    LIVE_MS,
    ChatServer,
    browser,
    expect,
    log_in,
    message,
    migrated_sqlite,
    new_page,
    on_postgres,
    send,
    shared_room,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_BYTES = 3_000_000


@pytest.fixture
def server(migrated_sqlite, tmp_path):  # noqa: F811  (the files tests' own server)
    """A chat server with its own VAR_DIR (media), and the task worker it needs.

    With Redis (CI) the worker is its own process, as in a deployment; on the embedded
    default the server runs the queue in a thread of its own.
    """
    var = tmp_path / "var"
    if on_postgres():
        env = {"DATABASE_URL": database_url_for_tests()}
        var.mkdir()
    else:
        shutil.copytree(migrated_sqlite, var)
        env = {"DATABASE_URL": ""}
    env.update(
        VAR_DIR=str(var),
        SECRET_KEY="browser-files-" + "k" * 50,
        REDIS_URL=settings.REDIS_URL or "",
        ATTACHMENT_MAX_BYTES=str(MAX_BYTES),
        ATTACHMENT_QUOTA_BYTES=str(3_500_000),
    )
    env["CACHE_PREFIX"] = env["CHANNEL_PREFIX"] = f"browser-{uuid.uuid4().hex[:12]}"
    worker = WorkerProcess(env, log=tmp_path / "worker.log").start() if env["REDIS_URL"] else None
    chat = ChatServer(env, tmp_path / "server.log")
    yield chat
    chat.stop()
    if worker is not None:
        assert worker.alive(), (tmp_path / "worker.log").read_text()[-2000:]
        worker.stop()


def picture(size=(800, 600), kind: str = "PNG") -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 7):
        for y in range(0, size[1], 13):
            image.putpixel((x, y), (250, 250, 0))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def file_payload(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def js_file(page, name: str, data: bytes, mime: str):
    """A DataTransfer holding one File, built in the page (what a drop or a paste carries)."""
    return page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            return transfer;
        }""",
        [name, list(data), mime],
    )


def attach_by_button(page, name: str, data: bytes, mime: str) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(file_payload(name, data, mime))


def uploaded(page, count: int) -> None:
    expect(page.locator("#upload-tray .upload[data-state=done]")).to_have_count(count)
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def two_members(server):
    _, alice_token = server.register("alice", "Alice")
    _, bob_token = server.register("bob", "Bob")
    room_id = shared_room(server, "photos", alice_token, bob_token)
    return room_id, alice_token, bob_token


def test_attach_by_button_drop_and_paste_and_the_image_shows_live(server, browser):  # noqa: F811
    room_id, _, bob_token = two_members(server)
    alice, bob = new_page(browser, server), new_page(browser, server)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    log_in(bob, "bob", f"/rooms/{room_id}/")

    # By the button: an image, sent with a caption.
    attach_by_button(alice, "harbour.png", picture(), "image/png")
    uploaded(alice, 1)
    expect(alice.locator("#upload-tray .upload progress")).to_have_attribute("value", "100")
    send(alice, "The harbour this morning")
    expect(alice.locator("#upload-tray .upload")).to_have_count(0)
    at_bob = message(bob, "The harbour this morning")
    expect(at_bob.locator(".attachment-image")).to_be_visible(timeout=LIVE_MS)
    # The worker makes the thumbnail; the room hears message.updated and shows it.
    thumb = at_bob.locator(".attachment-image img")
    expect(thumb).to_have_attribute("src", f"/api/v1/attachments/{thumb_id(server, bob_token, room_id)}/thumbnail/")
    bob.wait_for_function("(img) => img.complete && img.naturalWidth === 400", arg=thumb.element_handle())
    # A click opens it full size.
    at_bob.locator(".attachment-image").click()
    full = bob.locator("#lightbox img")
    expect(full).to_be_visible()
    expect(full).to_have_attribute("src", f"/api/v1/attachments/{thumb_id(server, bob_token, room_id)}/download/")
    bob.keyboard.press("Escape")
    expect(full).to_be_hidden()

    # By drag and drop onto the conversation: a PDF, sent without text, shown as a card.
    pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    transfer = js_file(alice, "minutes.pdf", pdf, "application/pdf")
    alice.dispatch_event("#timeline", "dragenter", {"dataTransfer": transfer})
    expect(alice.locator("#drop-hint")).to_be_visible()
    alice.dispatch_event("#timeline", "drop", {"dataTransfer": transfer})
    expect(alice.locator("#drop-hint")).to_be_hidden()
    uploaded(alice, 1)
    alice.get_by_role("button", name="Send").click()
    card = bob.locator("#messages .attachment-card").filter(has_text="minutes.pdf")
    expect(card).to_be_visible(timeout=LIVE_MS)
    expect(card).to_contain_text(f"application/pdf · {len(pdf)} bytes")

    # By pasting an image from the clipboard into the composer.
    transfer = js_file(alice, "image.png", picture((300, 200)), "image/png")
    alice.locator("#composer-input").evaluate(
        "(input, transfer) => input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true,"
        " cancelable: true }))",
        transfer,
    )
    uploaded(alice, 1)
    send(alice, "pasted")
    expect(message(bob, "pasted").locator(".attachment-image")).to_be_visible(timeout=LIVE_MS)
    # Reloaded (server-rendered), everything is still there.
    bob.reload()
    expect(message(bob, "The harbour this morning").locator(".attachment-image img")).to_be_visible()
    expect(bob.locator("#messages .attachment-card")).to_contain_text("minutes.pdf")


def thumb_id(server, token: str, room_id: int) -> int:
    page = server.call("GET", f"rooms/{room_id}/messages/", None, token)["results"]
    return next(a["id"] for m in page for a in m["attachments"] if a["name"] == "harbour.png")


def test_progress_cancel_and_errors_next_to_the_composer_send_nothing(server, browser):  # noqa: F811
    room_id, alice_token, _ = two_members(server)
    alice = new_page(browser, server)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    pdf = b"%PDF-1.4\n" + os.urandom(2_000_000)
    # A slow uplink (about 1 MB/s) so the upload is seen in flight.
    cdp = alice.context.new_cdp_session(alice)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 1_000_000}
    cdp.send("Network.emulateNetworkConditions", throttle)
    attach_by_button(alice, "slow.pdf", pdf, "application/pdf")
    progress = alice.locator("#upload-tray .upload progress")
    alice.wait_for_function(
        "() => { const p = document.querySelector('#upload-tray progress'); return p && p.value > 0 && p.value < 100; }"
    )
    expect(alice.get_by_role("button", name="Uploading…")).to_be_disabled()
    alice.get_by_role("button", name="Cancel slow.pdf").click()
    expect(progress).to_have_count(0)
    expect(alice.get_by_role("button", name="Send")).to_be_enabled()
    cdp.send("Network.emulateNetworkConditions", {**throttle, "latency": 0, "uploadThroughput": -1})

    # One file up; a second one would pass the quota: refused, the reason next to the composer.
    attach_by_button(alice, "first.pdf", pdf, "application/pdf")
    uploaded(alice, 1)
    attach_by_button(alice, "second.pdf", pdf, "application/pdf")
    errors = alice.locator("#composer-errors")
    expect(errors).to_contain_text("second.pdf: Your storage quota of 3.3 MiB is used up")
    # Too large (said before uploading), and a type the server refuses.
    attach_by_button(alice, "huge.pdf", b"%PDF-1.4\n" + os.urandom(MAX_BYTES + 1), "application/pdf")
    expect(errors).to_contain_text("huge.pdf: The file is larger than the limit of 2.9 MiB.")
    attach_by_button(alice, "page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "image/png")
    expect(errors).to_contain_text("page.png: Web pages, SVG and XML files cannot be shared")
    expect(alice.locator("#upload-tray .upload")).to_have_count(1)
    alice.get_by_role("button", name="Remove first.pdf").click()
    expect(alice.locator("#upload-tray .upload")).to_have_count(0)
    # Sending now sends the text alone: nothing half-attached went anywhere.
    send(alice, "just words")
    expect(message(alice, "just words").locator(".msg-status")).to_have_attribute("data-status", "sent")
    stored = server.call("GET", f"rooms/{room_id}/messages/", None, alice_token)["results"]
    assert [(m["body"], m["attachments"]) for m in stored] == [("just words", [])]


def test_search_finds_messages_and_files_and_opens_them_in_context(server, browser):  # noqa: F811
    room_id, _, bob_token = two_members(server)
    for n in range(1, 121):
        body = "the <b>quarterly</b> numbers are in" if n == 30 else f"chatter {n}"
        server.call("POST", f"rooms/{room_id}/messages/", {"body": body}, bob_token)
    alice = new_page(browser, server)
    log_in(alice, "alice", f"/rooms/{room_id}/")
    # A file sent from the page, found by its name.
    attach_by_button(alice, "Budget-2027.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    uploaded(alice, 1)
    alice.get_by_role("button", name="Send").click()
    expect(alice.locator("#messages .attachment-card")).to_contain_text("Budget-2027.pdf")

    alice.get_by_label("Search messages").fill("quarter")
    alice.keyboard.press("Enter")
    result = alice.locator("#search-results .search-result")
    expect(result).to_have_count(1)
    expect(result.locator(".search-snippet")).to_have_text("the <b>quarterly</b> numbers are in")
    expect(result.locator("mark")).to_have_text("quarter")
    assert result.locator(".search-snippet b").count() == 0  # shown as text, never as markup
    expect(result.locator(".search-where")).to_contain_text("#photos · Bob")

    # Opening it: the conversation around seq 30, scrolled to it, older and newer ones loadable.
    result.click()
    alice.wait_for_url(re.compile(rf"/rooms/{room_id}/\?around=30$"))
    target = message(alice, "quarterly")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bfocused\b"))
    assert message(alice, "chatter 120").count() == 0
    expect(alice.get_by_role("button", name="Load newer messages")).to_be_visible()
    alice.get_by_role("button", name="Load newer messages").click()
    expect(message(alice, "chatter 100")).to_have_count(1)

    # The file, by a word of its name.
    alice.get_by_label("Search messages").fill("budget")
    alice.keyboard.press("Enter")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("Budget")
    result.click()
    expect(alice.locator("#messages .msg.focused .attachment-card")).to_contain_text("Budget-2027.pdf")
