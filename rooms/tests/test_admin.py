import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rooms import services
from rooms.models import Membership, Room
from testsupport.factories import create_room, frames, record_published, send

pytestmark = pytest.mark.django_db

ROOMS = reverse("admin:rooms_room_changelist")
MEMBERSHIPS = reverse("admin:rooms_membership_changelist")


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol")


def shown(response) -> list:
    return list(response.context["cl"].result_list)


def test_moderator_opens_and_searches_rooms(client, moderator, people):
    alice, bob, carol = people
    create_room(alice, name="gardening", topic="tomatoes", members=[bob])
    create_room(carol, kind="private", name="secret club")
    services.direct_get_or_create(creator=alice, user_ids=[carol.pk])
    assert len(shown(client.get(ROOMS))) == 3
    assert [r.name for r in shown(client.get(ROOMS, {"q": "tomato"}))] == ["gardening"]
    assert [r.name for r in shown(client.get(ROOMS, {"q": "carol", "kind__exact": "private"}))] == ["secret club"]
    [direct] = shown(client.get(ROOMS, {"kind__exact": "direct"}))
    assert direct.member_count == 2
    response = client.get(reverse("admin:rooms_room_change", args=[direct.pk]))
    assert response.status_code == 200
    assert "carol" in response.content.decode()  # the members inline


def test_moderator_searches_and_filters_memberships(client, moderator, people):
    alice, bob, _ = people
    create_room(alice, name="gardening", members=[bob])
    create_room(bob, name="cooking")
    assert client.get(MEMBERSHIPS).status_code == 200
    rows = shown(client.get(MEMBERSHIPS, {"q": "bob"}))
    assert sorted((m.room.name, m.role) for m in rows) == [("cooking", "owner"), ("gardening", "member")]
    rows = shown(client.get(MEMBERSHIPS, {"q": "gardening", "role__exact": "owner"}))
    assert [m.user.username for m in rows] == ["alice"]


def test_remove_member_action_goes_through_the_service(
    client, moderator, people, monkeypatch, django_capture_on_commit_callbacks
):
    alice, bob, carol = people
    room = create_room(alice, name="gardening", members=[bob])
    direct, _ = services.direct_get_or_create(creator=alice, user_ids=[carol.pk])
    published = record_published(monkeypatch)
    selected = Membership.objects.filter(user=bob, room=room) | Membership.objects.filter(room=direct, user=carol)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            MEMBERSHIPS,
            {"action": "remove_members", "_selected_action": [m.pk for m in selected]},
            follow=True,
        )
    text = response.content.decode()
    assert "1 member(s) removed" in text
    assert "fixed set of members" in text  # the direct conversation refused, the batch went on
    assert not Membership.objects.filter(user=bob).exists()
    assert Membership.objects.filter(room=direct).count() == 2
    [(group, frame)] = frames(published, "room.left")
    assert (group, frame["reason"]) == (f"user.{bob.pk}", "removed")


def test_role_action_keeps_the_room_owned(client, moderator, people):
    alice, bob, _ = people
    room = create_room(alice, name="gardening", members=[bob])
    owner = Membership.objects.get(room=room, user=alice)
    client.post(MEMBERSHIPS, {"action": "make_member", "_selected_action": [owner.pk]})
    assert Membership.objects.get(pk=owner.pk).role == "owner"  # the last owner stays
    bob_membership = Membership.objects.get(room=room, user=bob)
    client.post(MEMBERSHIPS, {"action": "make_owner", "_selected_action": [bob_membership.pk]})
    client.post(MEMBERSHIPS, {"action": "make_member", "_selected_action": [owner.pk]})
    assert dict(Membership.objects.filter(room=room).values_list("user__username", "role")) == {
        "alice": "member",
        "bob": "owner",
    }


def test_room_edit_and_delete_go_through_the_services(
    client, moderator, people, monkeypatch, django_capture_on_commit_callbacks
):
    alice, bob, _ = people
    room = create_room(alice, name="gardening", members=[bob])
    send(bob, room, "hello")
    published = record_published(monkeypatch)
    change = reverse("admin:rooms_room_change", args=[room.pk])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            change,
            {
                "name": "  Gardening  ",
                "topic": "roses",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
            },
        )
    room.refresh_from_db()
    assert (room.name, room.topic, room.last_seq) == ("Gardening", "roses", 1)
    assert [f["room"]["topic"] for _, f in frames(published, "room.updated")] == ["roses"]
    delete = reverse("admin:rooms_room_delete", args=[room.pk])
    assert client.get(delete).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        client.post(delete, {"post": "yes"})
    assert not Room.objects.exists()
    assert sorted(g for g, _ in frames(published, "room.left")) == sorted([f"user.{alice.pk}", f"user.{bob.pk}"])


def test_changelists_query_count_does_not_grow_with_rows(client, moderator, people, django_assert_num_queries):
    alice, bob, carol = people
    for i in range(12):
        create_room([alice, bob, carol][i % 3], name=f"room {i}", members=[[bob, carol, alice][i % 3]])
    for url in (ROOMS, MEMBERSHIPS):
        client.get(url)  # warm up: session, content types
        with CaptureQueriesContext(connection) as few:
            client.get(url, {"q": "room 1"})  # room 1, 10, 11
        with django_assert_num_queries(len(few)):
            client.get(url, {"q": "room"})
