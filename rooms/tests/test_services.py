import json

import pytest
from django.db import transaction

from chatproject.errors import Invalid, NotFound, PermissionDenied
from conftest import needs_services
from rooms import services
from rooms.models import Membership, Room
from testsupport.factories import create_room, frames, make_moderator, record_published, run_threads, send

ROOM_KEYS = {"id", "kind", "name", "topic", "created_by", "created_at", "last_seq"}


@pytest.fixture
def published(monkeypatch):
    return record_published(monkeypatch)


@pytest.mark.django_db
class TestEvents:
    def test_membership_changes_publish_contract_frames(self, make_user, published, django_capture_on_commit_callbacks):
        alice, bob = make_user("alice"), make_user("bob")
        with django_capture_on_commit_callbacks(execute=True):
            room = create_room(alice, kind="private", name="team")
            services.member_add(actor=alice, room_id=room.pk, user_id=bob.pk)
            services.member_set_role(actor=alice, room_id=room.pk, user_id=bob.pk, role="admin")
            services.room_update(actor=alice, room_id=room.pk, topic="plans")
            services.member_remove(actor=alice, room_id=room.pk, user_id=bob.pk)
        seen = [(group, frame["type"]) for group, frame in frames(published)]
        alice_g, bob_g, room_g = f"user.{alice.pk}", f"user.{bob.pk}", f"room.{room.pk}"
        assert seen == [
            (alice_g, "room.joined"),
            (bob_g, "room.joined"),
            (room_g, "room.updated"),
            (bob_g, "notification"),  # the invitation
            (room_g, "room.updated"),
            (room_g, "room.updated"),
            (bob_g, "room.left"),
            (room_g, "room.updated"),
        ]
        for _, frame in frames(published):
            if frame["type"].startswith("room."):
                assert frame["room"]["id"] == room.pk
            if frame["type"] in ("room.joined", "room.updated"):
                assert ROOM_KEYS <= set(frame["room"])
        joined = frames(published, "room.joined")[1][1]
        assert (joined["room"]["role"], joined["room"]["unread_count"]) == ("member", 0)

    def test_rolled_back_changes_publish_nothing(self, make_user, published, django_capture_on_commit_callbacks):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                services.room_join(user=bob, room_id=room.pk)
                services.direct_get_or_create(creator=alice, user_ids=[bob.pk])
                services.room_delete(actor=alice, room_id=room.pk)
                raise RuntimeError("the caller's transaction fails")
        assert (callbacks, published) == ([], [])
        assert list(Room.objects.values_list("kind", flat=True)) == ["public"]
        assert list(Membership.objects.values_list("user__username", flat=True)) == ["alice"]

    def test_direct_conversation_tells_every_participant(
        self, make_user, published, django_capture_on_commit_callbacks
    ):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        with django_capture_on_commit_callbacks(execute=True):
            _, created = services.direct_get_or_create(creator=alice, user_ids=[bob.pk, carol.pk])
        assert created
        joined = frames(published, "room.joined")
        assert sorted(group for group, _ in joined) == sorted(f"user.{u.pk}" for u in (alice, bob, carol))
        assert {m["username"] for m in joined[0][1]["room"]["members"]} == {"alice", "bob", "carol"}
        json.dumps(joined)


@pytest.mark.django_db
class TestRules:
    def test_last_owner_must_hand_on_before_leaving(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, members=[bob])
        with pytest.raises(Invalid):
            services.room_leave(user=alice, room_id=room.pk)
        with pytest.raises(Invalid):
            services.member_set_role(actor=alice, room_id=room.pk, user_id=alice.pk, role="admin")
        services.member_set_role(actor=alice, room_id=room.pk, user_id=bob.pk, role="owner")
        services.room_leave(user=alice, room_id=room.pk)
        assert list(Membership.objects.values_list("user__username", "role")) == [("bob", "owner")]

    def test_sole_member_may_leave(self, make_user):
        alice = make_user("alice")
        room = create_room(alice)
        services.room_leave(user=alice, room_id=room.pk)
        assert not Membership.objects.exists()

    def test_direct_conversation_members_are_fixed(self, make_user):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        moderator = make_moderator(make_user("mod"))
        room, _ = services.direct_get_or_create(creator=alice, user_ids=[bob.pk])
        for call in [
            lambda: services.room_leave(user=alice, room_id=room.pk),
            lambda: services.member_add(actor=moderator, room_id=room.pk, user_id=carol.pk),
            lambda: services.member_remove(actor=moderator, room_id=room.pk, user_id=bob.pk),
            lambda: services.room_join(user=moderator, room_id=room.pk),
        ]:
            with pytest.raises(PermissionDenied):
                call()
        with pytest.raises(NotFound):
            services.room_join(user=carol, room_id=room.pk)
        assert Membership.objects.filter(room=room).count() == 2

    def test_moderator_may_do_what_an_owner_may(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        moderator = make_moderator(make_user("mod"))
        room = create_room(alice, kind="private", members=[bob])
        services.member_set_role(actor=moderator, room_id=room.pk, user_id=bob.pk, role="owner")
        services.member_remove(actor=moderator, room_id=room.pk, user_id=alice.pk)
        services.room_update(actor=moderator, room_id=room.pk, name="renamed")
        services.room_delete(actor=moderator, room_id=room.pk)
        assert not Room.objects.exists()

    def test_join_keeps_an_existing_role(self, make_user):
        alice = make_user("alice")
        room = create_room(alice)
        assert services.room_join(user=alice, room_id=room.pk).role == "owner"

    def test_banned_user_cannot_be_added(self, make_user):
        alice, banned = make_user("alice"), make_user("banned", is_active=False)
        room = create_room(alice)
        with pytest.raises(Invalid):
            services.member_add(actor=alice, room_id=room.pk, user_id=banned.pk)

    def test_marker_of_a_new_member_starts_at_the_last_message(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, members=[])
        send(alice, room, "one"), send(alice, room, "two")
        membership = services.room_join(user=bob, room_id=room.pk)
        assert (membership.read_seq, membership.delivered_seq) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_racing_direct_conversations_give_one_room(make_user):
    needs_services(postgres=True)
    alice, bob = make_user("alice"), make_user("bob")
    results = run_threads(
        8, lambda i: services.direct_get_or_create(creator=[alice, bob][i % 2], user_ids=[alice.pk, bob.pk])
    )
    assert len({room.pk for room, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Membership.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("door", ["join", "add"])
def test_racing_joins_of_one_user_give_one_membership(make_user, door):
    # A double tap on "join" (or two admins adding the same person) must not fail on the unique constraint.
    needs_services(postgres=True)
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, kind="public" if door == "join" else "private")
    if door == "join":
        results = run_threads(8, lambda i: services.room_join(user=bob, room_id=room.pk))
    else:
        results = run_threads(8, lambda i: services.member_add(actor=alice, room_id=room.pk, user_id=bob.pk))
    assert len({membership.pk for membership in results}) == 1
    assert Membership.objects.filter(user=bob).count() == 1
