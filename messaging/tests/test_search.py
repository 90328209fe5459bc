"""Search: only the caller's rooms, best first, highlighted, never deleted messages."""

import pytest

from messaging import services as messaging
from messaging.search import highlight
from rooms import services as rooms

pytestmark = pytest.mark.django_db

URL = "/api/v1/search/messages/"


@pytest.fixture
def rooms_with_talk(make_user):
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    general = rooms.room_create(creator=alice, name="general", kind="public")
    rooms.room_join(user=bob, room_id=general.pk)
    secret = rooms.room_create(creator=eve, name="secret", kind="private")
    send = messaging.message_send
    send(sender=alice, room_id=general.pk, body="The deploy is done")
    send(sender=bob, room_id=general.pk, body="Deploying the <b>new</b> release of the deployment tool")
    gone = send(sender=bob, room_id=general.pk, body="deploy secrets leaked").message
    messaging.message_delete(actor=bob, message_id=gone.pk)
    send(sender=eve, room_id=secret.pk, body="deploy plans nobody else may read")
    return alice, bob, eve, general, secret


def test_finds_matches_in_my_rooms_only_with_highlight(api, rooms_with_talk):
    alice, _, _, general, _ = rooms_with_talk
    response = api.as_user(alice).get(URL, {"q": "deploy"})
    assert response.status_code == 200
    results = response.json()
    bodies = sorted(r["message"]["body"] for r in results)
    assert bodies == ["Deploying the <b>new</b> release of the deployment tool", "The deploy is done"]
    assert all(r["room"] == general.pk for r in results)
    snippet = next(r["snippet"] for r in results if "release" in r["message"]["body"])
    assert "&lt;b&gt;new&lt;/b&gt;" in snippet and "<b>" not in snippet
    assert "<mark>Deploy</mark>" in snippet


def test_room_filter_and_hidden_rooms(api, rooms_with_talk):
    alice, _, eve, general, secret = rooms_with_talk
    assert api.as_user(alice).get(URL, {"q": "deploy", "room": secret.pk}).json() == []
    assert len(api.as_user(eve).get(URL, {"q": "plans", "room": secret.pk}).json()) == 1
    assert api.as_user(eve).get(URL, {"q": "deploy", "room": general.pk}).json() == []


def test_bad_queries(api, rooms_with_talk):
    alice = rooms_with_talk[0]
    assert api.as_user(alice).get(URL, {"q": ""}).status_code == 400
    assert api.as_user(alice).get(URL, {"q": "x", "room": "abc"}).status_code == 400
    assert api.as_user(alice).get(URL, {"q": "!!!"}).json() == []
    assert api.as_user(None).get(URL, {"q": "deploy"}).status_code == 401


def test_highlight_escapes_and_marks_every_match():
    text = highlight("a <i>Deploy</i> then deploy again", ["deploy"])
    assert text == "a &lt;i&gt;<mark>Deploy</mark>&lt;/i&gt; then <mark>deploy</mark> again"
