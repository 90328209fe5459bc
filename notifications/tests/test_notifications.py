"""Mentions, direct messages and invitations: who gets one, live delivery, the inbox API."""

import pytest
from channels.db import database_sync_to_async as db

from messaging import services as messaging
from notifications.models import Notification
from notifications.services import mentioned_usernames
from rooms import services as rooms
from testsupport.wsclient import connect_as, no_frame_of_type, receive_type


def test_mention_parsing():
    assert mentioned_usernames("hi @Bob and @carol.x, not mail@example.com or @@x") == {"bob", "carol.x"}


@pytest.mark.django_db
class TestWhoIsNotified:
    def test_mention_of_members_only_and_never_self(self, make_user):
        alice, bob, carol, _dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
        room = rooms.room_create(creator=alice, name="general", kind="public")
        for user in (bob, carol):
            rooms.room_join(user=user, room_id=room.pk)
        message = messaging.message_send(
            sender=alice, room_id=room.pk, body="@bob @BOB @alice @dave @nobody hi"
        ).message
        notes = list(Notification.objects.all())
        assert [(n.recipient_id, n.kind, n.message_id, n.actor_id) for n in notes] == [
            (bob.pk, "mention", message.pk, alice.pk)
        ]

    def test_direct_message_notifies_each_other_member_once(self, make_user):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        dm, _ = rooms.direct_get_or_create(creator=alice, user_ids=[bob.pk, carol.pk])
        messaging.message_send(sender=alice, room_id=dm.pk, body="hey @bob")
        assert sorted(Notification.objects.values_list("recipient_id", "kind")) == [
            (bob.pk, "direct_message"),
            (carol.pk, "direct_message"),
        ]

    def test_invitation_to_private_room_but_not_public_join(self, make_user):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        private = rooms.room_create(creator=alice, name="secret", kind="private")
        rooms.member_add(actor=alice, room_id=private.pk, user_id=bob.pk)
        public = rooms.room_create(creator=alice, name="lobby", kind="public")
        rooms.room_join(user=carol, room_id=public.pk)
        assert list(Notification.objects.values_list("recipient_id", "kind", "room_id", "actor_id")) == [
            (bob.pk, "invitation", private.pk, alice.pk)
        ]

    def test_resend_creates_no_second_notification(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        dm, _ = rooms.direct_get_or_create(creator=alice, user_ids=[bob.pk])
        for _ in range(2):
            messaging.message_send(sender=alice, room_id=dm.pk, body="once", client_id="same")
        assert Notification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_notifications_arrive_live_and_count_in_hello(make_user):
    def build():
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        room = rooms.room_create(creator=alice, name="general", kind="public")
        rooms.room_join(user=bob, room_id=room.pk)
        rooms.room_join(user=carol, room_id=room.pk)
        return alice, bob, carol, room

    alice, bob, carol, room = await db(build)()
    bob_ws, hello = await connect_as(bob)
    assert hello["notifications_unread"] == 0
    carol_ws, _ = await connect_as(carol)
    alice_ws, _ = await connect_as(alice)
    await db(messaging.message_send)(sender=alice, room_id=room.pk, body="ping @bob")
    note = (await receive_type(bob_ws, "notification"))["notification"]
    assert (note["kind"], note["room"], note["seq"], note["actor"]["id"]) == ("mention", room.pk, 1, alice.pk)
    assert note["snippet"] == "ping @bob"
    assert await no_frame_of_type(carol_ws, "notification")
    assert await no_frame_of_type(alice_ws, "notification")
    _, hello = await connect_as(bob)
    assert hello["notifications_unread"] == 1
    for ws in (bob_ws, carol_ws, alice_ws):
        await ws.disconnect()


@pytest.mark.django_db
class TestInboxApi:
    @pytest.fixture
    def inbox(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        dm, _ = rooms.direct_get_or_create(creator=alice, user_ids=[bob.pk])
        for n in range(7):
            messaging.message_send(sender=alice, room_id=dm.pk, body=f"dm {n}")
        return bob

    def test_list_newest_first_with_cursor_pages(self, api, inbox):
        client = api.as_user(inbox)
        first = client.get("/api/v1/notifications/", {"limit": 3}).json()
        assert [n["snippet"] for n in first["results"]] == ["dm 6", "dm 5", "dm 4"]
        second = client.get(first["next"]).json()
        assert [n["snippet"] for n in second["results"]] == ["dm 3", "dm 2", "dm 1"]
        third = client.get(second["next"]).json()
        assert [n["snippet"] for n in third["results"]] == ["dm 0"] and third["next"] is None

    def test_mark_read_by_ids_then_all(self, api, inbox):
        client = api.as_user(inbox)
        ids = [n["id"] for n in client.get("/api/v1/notifications/").json()["results"][:2]]
        response = client.post("/api/v1/notifications/read/", {"ids": ids}, format="json")
        assert response.json() == {"updated": 2, "unread": 5}
        unread = client.get("/api/v1/notifications/", {"unread": 1}).json()["results"]
        assert len(unread) == 5 and not set(ids) & {n["id"] for n in unread}
        assert client.post("/api/v1/notifications/read/", {"all": True}, format="json").json()["unread"] == 0
        assert client.get("/api/v1/notifications/", {"unread": 1}).json()["results"] == []

    def test_unread_is_1_or_0_and_anything_else_is_refused(self, api, inbox):
        client = api.as_user(inbox)
        client.post("/api/v1/notifications/read/", {"ids": [Notification.objects.first().pk]}, format="json")
        for value, count in [("1", 6), ("true", 6), ("0", 7), ("false", 7), ("", 7)]:
            assert len(client.get("/api/v1/notifications/", {"unread": value}).json()["results"]) == count, value
        response = client.get("/api/v1/notifications/", {"unread": "null"})
        assert response.status_code == 400 and "unread" in response.json()

    def test_limit_is_a_whole_number_from_1_capped_at_200(self, api, inbox):
        client = api.as_user(inbox)
        assert len(client.get("/api/v1/notifications/", {"limit": 500}).json()["results"]) == 7
        for bad in ("0", "-1", "x"):
            response = client.get("/api/v1/notifications/", {"limit": bad})
            assert response.status_code == 400 and "limit" in response.json(), bad

    def test_mark_read_takes_json_types_only(self, api, inbox):
        # `all: 0` used to read as false (and `ids` as given): a client bug the answer now names.
        response = api.as_user(inbox).post("/api/v1/notifications/read/", {"all": 0, "ids": [1]}, format="json")
        assert response.status_code == 400 and response.json() == {"all": ["Must be true or false."]}

    def test_mark_read_needs_ids_or_all_and_touches_only_own(self, api, inbox, make_user):
        client = api.as_user(inbox)
        assert client.post("/api/v1/notifications/read/", {}, format="json").status_code == 400
        other = make_user("other")
        ids = list(Notification.objects.values_list("id", flat=True))
        assert (
            api.as_user(other).post("/api/v1/notifications/read/", {"ids": ids}, format="json").json()["updated"] == 0
        )

    def test_list_takes_fixed_queries(self, api, inbox, django_assert_num_queries):
        client = api.as_user(inbox)
        with django_assert_num_queries(2):
            assert len(client.get("/api/v1/notifications/").json()["results"]) == 7


@pytest.mark.django_db
def test_presence_endpoint(api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    response = api.as_user(alice).get("/api/v1/presence/", {"users": f"{alice.pk},{bob.pk}"})
    assert response.status_code == 200
    assert response.json() == {
        str(alice.pk): {"status": "offline", "last_seen": None},
        str(bob.pk): {"status": "offline", "last_seen": None},
    }
    assert api.as_user(alice).get("/api/v1/presence/", {"users": "x"}).status_code == 400
    assert api.as_user(alice).get("/api/v1/presence/").status_code == 400
