"""The chat pages, server-side: what they render and who may see them."""

import json

import pytest
from django.test import Client

from messaging.templatetags.chat import message_body
from testsupport.factories import create_room, send

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_state(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="chat-state" type="application/json">') + len(
        '<script id="chat-state" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_home_lists_rooms_and_conversations_with_unread_counts(make_user):
    alice, bob = make_user("alice", display_name="Alice"), make_user("bob", display_name="Bob")
    room = create_room(alice, name="general", members=[bob])
    send(alice, room, "one")
    send(alice, room, "two")
    response = client_for(bob).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "general" in html and "Welcome, Bob" in html
    assert "<title>(2) Home · Chat</title>" in html
    state = page_state(response)
    assert state["user"]["username"] == "bob"
    assert [(r["id"], r["unread_count"]) for r in state["rooms"]] == [(room.pk, 2)]


def test_room_page_renders_history_safely_with_statuses(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, name="general", members=[bob])
    send(bob, room, "<script>alert(1)</script> hi @alice https://example.com/x.")
    send(alice, room, "mine")
    response = client_for(alice).get(f"/rooms/{room.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="mention mention-me">@alice</span>' in html
    assert (
        '<a href="https://example.com/x" target="_blank" rel="noopener noreferrer">https://example.com/x</a>.' in html
    )
    assert 'data-status="sent"' in html  # bob has not read alice's message
    state = page_state(response)["room"]
    assert state["member"] and state["last_seq"] == 2 and not state["has_more"]
    assert state["markers"] == {str(alice.pk): [2, 2], str(bob.pk): [1, 1]}


def test_hidden_room_is_404_and_public_room_can_be_previewed(make_user):
    alice, eve = make_user("alice"), make_user("eve")
    private = create_room(alice, name="secret", kind="private")
    public = create_room(alice, name="lobby")
    assert client_for(eve).get(f"/rooms/{private.pk}/").status_code == 404
    preview = client_for(eve).get(f"/rooms/{public.pk}/")
    assert preview.status_code == 200
    assert "Join room" in preview.content.decode() and 'id="composer"' not in preview.content.decode()


def test_pages_need_a_login():
    for path in ("/", "/rooms/1/", "/rooms/new/", "/rooms/browse/", "/people/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("a < b & c", "a &lt; b &amp; c"),
        ("mail me@example.com", "mail me@example.com"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ('"https://x.org/a"', '&quot;<a href="https://x.org/a" target="_blank" rel="noopener noreferrer">'),
        ("@bob!", '<span class="mention">@bob</span>!'),
    ],
)
def test_message_body_filter(body, html):
    assert html in message_body(body, "alice")
