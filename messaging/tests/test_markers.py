"""Delivered/read markers, message status, receipts and unread counts."""

import pytest

from messaging import services as messaging
from rooms import services as rooms

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(make_user):
    """alice and four others in a private room; alice has sent three messages."""
    alice = make_user("alice")
    others = [make_user(f"member{n}") for n in range(4)]
    room = rooms.room_create(creator=alice, name="team", kind="private")
    for user in others:
        rooms.member_add(actor=alice, room_id=room.pk, user_id=user.pk)
    sent = [messaging.message_send(sender=alice, room_id=room.pk, body=f"m{n}").message for n in range(3)]
    return alice, others, room, sent


def mark(api, user, room, kind, up_to):
    return api.as_user(user).post(f"/api/v1/rooms/{room.pk}/{kind}/", {"up_to": up_to}, format="json")


def status_of(api, user, room, seq):
    page = api.as_user(user).get(f"/api/v1/rooms/{room.pk}/messages/").json()["results"]
    return next(m["status"] for m in page if m["seq"] == seq)


def test_markers_move_forward_only_clamped_and_read_implies_delivered(api, group):
    _, (bob, *_), room, _ = group
    response = mark(api, bob, room, "read", 2)
    assert response.status_code == 200
    assert response.json() == {"read_seq": 2, "delivered_seq": 2, "unread_count": 1}
    assert mark(api, bob, room, "read", 1).json()["read_seq"] == 2
    assert mark(api, bob, room, "delivered", 1).json()["delivered_seq"] == 2
    clamped = mark(api, bob, room, "delivered", 999).json()
    assert (clamped["delivered_seq"], clamped["read_seq"]) == (3, 2)
    assert mark(api, bob, room, "read", -1).status_code == 400


def test_group_status_stays_delivered_until_the_last_member_reads(api, group):
    alice, others, room, sent = group
    assert status_of(api, alice, room, 3) == "sent"
    for user in others:
        mark(api, user, room, "delivered", 3)
    assert status_of(api, alice, room, 3) == "delivered"
    for user in others[:-1]:
        mark(api, user, room, "read", 3)
    assert status_of(api, alice, room, 3) == "delivered"
    receipts = api.as_user(alice).get(f"/api/v1/messages/{sent[2].pk}/receipts/").json()
    assert sorted(r["status"] for r in receipts) == ["delivered", "read", "read", "read"]
    assert alice.pk not in {r["user"]["id"] for r in receipts}
    mark(api, others[-1], room, "read", 3)
    assert status_of(api, alice, room, 3) == "read"
    assert status_of(api, alice, room, 1) == "read"


def test_one_to_one_status_and_receipts(api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    dm, _ = rooms.direct_get_or_create(creator=alice, user_ids=[bob.pk])
    message = messaging.message_send(sender=alice, room_id=dm.pk, body="hi").message
    receipts_url = f"/api/v1/messages/{message.pk}/receipts/"
    assert api.as_user(alice).get(receipts_url).json() == [
        {"user": {"id": bob.pk, "username": "bob", "display_name": "bob"}, "status": "sent"}
    ]
    mark(api, bob, dm, "delivered", 1)
    assert api.as_user(alice).get(receipts_url).json()[0]["status"] == "delivered"
    mark(api, bob, dm, "read", 1)
    assert status_of(api, alice, dm, 1) == "read"
    # bob's reply is "sent" for bob until alice's markers pass it (her own send moved hers to 1 only).
    messaging.message_send(sender=bob, room_id=dm.pk, body="hey")
    assert status_of(api, bob, dm, 2) == "sent"


def test_unread_counts_follow_reads_on_another_device(api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = rooms.room_create(creator=alice, name="general", kind="public")
    rooms.room_join(user=bob, room_id=room.pk)
    for n in range(4):
        messaging.message_send(sender=alice, room_id=room.pk, body=f"m{n}")
    messaging.message_send(sender=bob, room_id=room.pk, body="mine")
    # bob's own message marks what came before it as read.
    phone = api.as_user(bob).get("/api/v1/rooms/").json()[0]
    assert phone["unread_count"] == 0
    messaging.message_send(sender=alice, room_id=room.pk, body="new 1")
    messaging.message_send(sender=alice, room_id=room.pk, body="new 2")
    assert api.as_user(bob).get("/api/v1/rooms/").json()[0]["unread_count"] == 2
    mark(api, bob, room, "read", 6)  # "the laptop" reads one
    assert api.as_user(bob).get(f"/api/v1/rooms/{room.pk}/").json()["unread_count"] == 1
    assert api.as_user(alice).get("/api/v1/rooms/").json()[0]["unread_count"] == 0


def test_receipts_and_status_take_fixed_queries(api, group, make_user, django_assert_num_queries):
    alice, _, room, sent = group
    url = f"/api/v1/messages/{sent[0].pk}/receipts/"
    client = api.as_user(alice)
    with django_assert_num_queries(4) as small:  # auth, message+room, visibility, members
        client.get(url)
    for n in range(15):
        rooms.member_add(actor=alice, room_id=room.pk, user_id=make_user(f"extra{n}").pk)
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(client.get(url).json()) == 19


def test_marker_outside_membership(api, group, make_user):
    _, _, room, _ = group
    stranger = make_user("stranger")
    assert mark(api, stranger, room, "read", 1).status_code == 404
