"""Room pages of the web UI: each form calls the same service as the API."""

import pytest
from django.test import Client

from rooms.models import Membership, Room
from testsupport.factories import create_room

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_create_public_and_private_rooms(make_user):
    alice = make_user("alice")
    client = client_for(alice)
    response = client.post("/rooms/new/", {"name": "general", "topic": "all", "kind": "public"})
    room = Room.objects.get(name="general")
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.pk}/"
    assert Membership.objects.get(room=room, user=alice).role == "owner"
    client.post("/rooms/new/", {"name": "inner", "kind": "private"})
    assert Room.objects.get(name="inner").kind == "private"
    refused = client.post("/rooms/new/", {"name": "   ", "kind": "public"})
    assert refused.status_code == 200 and "field-error" in refused.content.decode()


def test_browse_join_and_leave(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, name="general")
    client = client_for(bob)
    assert "Join #general" in client.get("/rooms/browse/?q=gen").content.decode()
    assert client.post(f"/rooms/{room.pk}/join/").status_code == 302
    assert Membership.objects.filter(room=room, user=bob).exists()
    assert "Join #general" not in client.get("/rooms/browse/").content.decode()
    assert client.post(f"/rooms/{room.pk}/leave/")["Location"] == "/"
    assert not Membership.objects.filter(room=room, user=bob).exists()


def test_private_rooms_cannot_be_joined_and_last_owner_cannot_leave(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    private = create_room(alice, name="inner", kind="private")
    assert client_for(bob).post(f"/rooms/{private.pk}/join/").status_code == 404
    create_room(alice, name="general", members=[bob])
    general = Room.objects.get(name="general")
    response = client_for(alice).post(f"/rooms/{general.pk}/leave/", follow=True)
    assert "last owner" in response.content.decode()
    assert Membership.objects.filter(room=general, user=alice).exists()


def test_owner_adds_members_to_a_private_room(make_user):
    alice, bob, carl = make_user("alice"), make_user("bob", display_name="Bobby"), make_user("carl")
    room = create_room(alice, name="inner", kind="private")
    page = client_for(alice).get(f"/rooms/{room.pk}/members/?q=bob").content.decode()
    assert "Add Bobby" in page
    response = client_for(alice).post(f"/rooms/{room.pk}/members/", {"user_id": bob.pk}, follow=True)
    assert "Bobby is now a member." in response.content.decode()
    assert Membership.objects.filter(room=room, user=bob, role="member").exists()
    # A plain member sees no add form and may not add.
    assert "Add people" not in client_for(bob).get(f"/rooms/{room.pk}/members/").content.decode()
    refused = client_for(bob).post(f"/rooms/{room.pk}/members/", {"user_id": carl.pk}, follow=True)
    assert "Only the room&#x27;s owner or admins may do this." in refused.content.decode()
    assert not Membership.objects.filter(room=room, user=carl).exists()


def test_directory_starts_one_direct_conversation(make_user):
    alice, bob = make_user("alice"), make_user("bob", display_name="Bob")
    client = client_for(alice)
    assert "Message Bob" in client.get("/people/?q=bo").content.decode()
    first = client.post(f"/people/{bob.pk}/message/")
    again = client.post(f"/people/{bob.pk}/message/")
    room = Room.objects.get(kind="direct")
    assert first["Location"] == again["Location"] == f"/rooms/{room.pk}/"
    refused = client.post(f"/people/{alice.pk}/message/", follow=True)
    # Back on the directory, told why.
    assert refused.redirect_chain == [("/people/", 302)]
    assert "Name at least one other user." in refused.content.decode()
    assert Room.objects.filter(kind="direct").count() == 1
