"""The web UI under the send limit: a message refused as too fast is sent again, not lost."""

import re
import shutil
import uuid

import pytest
from django.conf import settings

from messaging.tests.test_browser import (  # noqa: F401  (browser and migrated_sqlite are fixtures)
    ChatServer,
    browser,
    database_url_for_tests,
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


@pytest.fixture
def server(migrated_sqlite, tmp_path):  # noqa: F811  (the browser tests' server, with the limits on)
    if on_postgres():
        env = {"DATABASE_URL": database_url_for_tests()}
    else:
        var = tmp_path / "var"
        shutil.copytree(migrated_sqlite, var)
        env = {"VAR_DIR": str(var), "DATABASE_URL": ""}
    env["REDIS_URL"] = settings.REDIS_URL or ""
    env["CACHE_PREFIX"] = env["CHANNEL_PREFIX"] = f"browser-{uuid.uuid4().hex[:12]}"
    env.update(THROTTLE_DISABLED="0", RATE_LIMIT_SEND="3/4")
    chat = ChatServer(env, tmp_path / "server.log")
    yield chat
    chat.stop()


def test_messages_sent_too_fast_are_sent_again_once_allowed(server, browser):  # noqa: F811
    _, token = server.register("rapid", "Rapid")
    room_id = shared_room(server, "fast", token)
    page = new_page(browser, server)
    log_in(page, "rapid", f"/rooms/{room_id}/")
    for n in range(5):
        send(page, f"quick {n}")
    # Three pass at once; two are refused (nothing stored) and go out again after retry_after.
    for n in range(5):
        expect(message(page, f"quick {n}")).not_to_have_class(re.compile(r"\b(pending|failed)\b"), timeout=15_000)
    history = server.call("GET", f"rooms/{room_id}/messages/", None, token)
    assert [m["body"] for m in history["results"]] == [f"quick {n}" for n in range(5)]
