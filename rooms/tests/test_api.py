import pytest

from rooms import services
from rooms.models import Membership, Room
from testsupport.factories import (
    KINDS,
    assert_outcome,
    build_scene,
    create_room,
    matrix_cases,
    send,
    snapshot,
)

pytestmark = pytest.mark.django_db

ROOMS = "/api/v1/rooms/"
DMS = "/api/v1/dms/"

DOORS = {
    "read": lambda api, s, room: api.get(f"{ROOMS}{room.pk}/"),
    "update": lambda api, s, room: api.patch(f"{ROOMS}{room.pk}/", {"topic": "new topic"}, format="json"),
    "members": lambda api, s, room: api.get(f"{ROOMS}{room.pk}/members/"),
    "add": lambda api, s, room: api.post(f"{ROOMS}{room.pk}/members/", {"user_id": s.newcomer.pk}, format="json"),
    "remove": lambda api, s, room: api.delete(f"{ROOMS}{room.pk}/members/{s.other.pk}/"),
    "role": lambda api, s, room: api.patch(f"{ROOMS}{room.pk}/members/{s.other.pk}/", {"role": "admin"}, format="json"),
    "join": lambda api, s, room: api.post(f"{ROOMS}{room.pk}/join/"),
    "leave": lambda api, s, room: api.post(f"{ROOMS}{room.pk}/leave/"),
}

# Relations, left to right: member, owner, outsider, removed member, site moderator.
# In the direct conversation `owner` is a plain participant: nobody owns a conversation.
EXPECTED = {
    #            public                 private                direct
    "read": ("200 200 200 200 200", "200 200 404 404 200", "200 200 404 404 200"),
    "update": ("403 200 403 403 200", "403 200 404 404 200", "403 403 404 404 403"),
    "members": ("200 200 200 200 200", "200 200 404 404 200", "200 200 404 404 200"),
    "add": ("403 201 403 403 201", "403 201 404 404 201", "403 403 404 404 403"),
    "remove": ("403 204 403 403 204", "403 204 404 404 204", "403 403 404 404 403"),
    "role": ("403 200 403 403 200", "403 200 404 404 200", "403 403 404 404 403"),
    # Joining a room one is in already is a no-op that answers the room.
    "join": ("200 200 200 200 200", "200 200 404 404 403", "200 200 404 404 403"),
    # The owner is the last owner: 400 until they hand ownership on. Non-members: 400.
    "leave": ("204 400 400 400 400", "204 400 404 404 400", "403 403 404 404 400"),
}


@pytest.fixture
def scene():
    return build_scene()


@pytest.mark.parametrize("door,kind,relation,status", matrix_cases(EXPECTED))
def test_permission_matrix(api, scene, door, kind, relation, status):
    before = snapshot()
    response = DOORS[door](api.as_user(getattr(scene, relation)), scene, scene.rooms[kind])
    assert_outcome(response, status, before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("door", [*DOORS, "list", "public", "dms"])
@pytest.mark.parametrize("relation", ["inactive", "anonymous"])
def test_banned_and_anonymous_callers_get_401_everywhere(api, scene, door, kind, relation):
    before = snapshot()
    client = api.as_user(scene.inactive if relation == "inactive" else None)
    if door == "list":
        response = client.get(ROOMS)
    elif door == "public":
        response = client.get(f"{ROOMS}public/")
    elif door == "dms":
        response = client.post(DMS, {"user_ids": [scene.owner.pk]}, format="json")
    else:
        response = DOORS[door](client, scene, scene.rooms[kind])
    assert_outcome(response, 401, before)


def test_successful_management_calls_take_effect(api, scene):
    room = scene.rooms["private"]
    owner = api.as_user(scene.owner)
    owner.post(f"{ROOMS}{room.pk}/members/", {"user_id": scene.newcomer.pk}, format="json")
    owner.patch(f"{ROOMS}{room.pk}/members/{scene.other.pk}/", {"role": "admin"}, format="json")
    assert api.as_user(scene.newcomer).get(f"{ROOMS}{room.pk}/").json()["role"] == "member"
    members = {m["user"]["username"]: m["role"] for m in api.get(f"{ROOMS}{room.pk}/members/").json()}
    assert members == {
        "owner": "owner",
        "member": "member",
        "other": "admin",
        "inactive": "member",
        "newcomer": "member",
    }
    # `api` is one client: as_user switches who it speaks for.
    assert api.as_user(scene.owner).delete(f"{ROOMS}{room.pk}/members/{scene.member.pk}/").status_code == 204
    assert api.as_user(scene.member).get(f"{ROOMS}{room.pk}/").json()["code"] == "not_found"


def test_room_admin_manages_members_but_not_owners_or_roles(api, scene):
    room = scene.rooms["public"]
    services.member_set_role(actor=scene.owner, room_id=room.pk, user_id=scene.member.pk, role="admin")
    admin = api.as_user(scene.member)
    url = f"{ROOMS}{room.pk}/members/"
    assert admin.post(url, {"user_id": scene.newcomer.pk, "role": "admin"}, format="json").status_code == 403
    assert admin.post(url, {"user_id": scene.newcomer.pk}, format="json").status_code == 201
    assert admin.delete(f"{url}{scene.owner.pk}/").status_code == 403
    assert admin.patch(f"{url}{scene.other.pk}/", {"role": "admin"}, format="json").status_code == 403
    assert admin.delete(f"{url}{scene.other.pk}/").status_code == 204
    assert admin.patch(f"{ROOMS}{room.pk}/", {"topic": "by admin"}, format="json").json()["topic"] == "by admin"
    assert admin.delete(f"{ROOMS}{room.pk}/").status_code == 403


@pytest.mark.parametrize("relation,status", [("member", 403), ("owner", 204), ("moderator", 204)])
def test_room_delete_is_for_owners_and_moderators(api, scene, relation, status):
    room = scene.rooms["private"]
    assert api.as_user(getattr(scene, relation)).delete(f"{ROOMS}{room.pk}/").status_code == status
    assert Room.objects.filter(pk=room.pk).exists() == (status != 204)


def test_last_owner_hands_ownership_on_then_leaves(api, scene):
    room = scene.rooms["public"]
    owner = api.as_user(scene.owner)
    refused = owner.post(f"{ROOMS}{room.pk}/leave/")
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    demote = owner.patch(f"{ROOMS}{room.pk}/members/{scene.owner.pk}/", {"role": "member"}, format="json")
    assert demote.status_code == 400
    owner.patch(f"{ROOMS}{room.pk}/members/{scene.other.pk}/", {"role": "owner"}, format="json")
    assert owner.post(f"{ROOMS}{room.pk}/leave/").status_code == 204
    assert not Membership.objects.filter(room=room, user=scene.owner).exists()


def test_public_room_join_leave_and_listing(api, scene):
    room = scene.rooms["public"]
    newcomer = api.as_user(scene.newcomer)
    listed = [r["id"] for r in newcomer.get(f"{ROOMS}public/").json()]
    assert listed == [room.pk]  # the private room stays hidden
    assert newcomer.post(f"{ROOMS}{room.pk}/join/").json()["role"] == "member"
    assert [r["id"] for r in newcomer.get(ROOMS).json()] == [room.pk]
    assert newcomer.get(f"{ROOMS}public/").json() == []
    assert newcomer.post(f"{ROOMS}{room.pk}/leave/").status_code == 204
    assert newcomer.get(ROOMS).json() == []


def test_room_list_shows_only_the_callers_rooms(api, scene):
    for relation, expected in [("member", 3), ("removed", 0), ("outsider", 0), ("moderator", 0)]:
        rooms = api.as_user(getattr(scene, relation)).get(ROOMS).json()
        assert len(rooms) == expected
    direct = next(r for r in api.as_user(scene.owner).get(ROOMS).json() if r["kind"] == "direct")
    assert {m["username"] for m in direct["members"]} == {"member", "owner", "other", "inactive"}
    assert direct["last_message"]["body"] == "hello direct"


class TestDirectConversations:
    def test_same_people_get_the_same_conversation(self, api, make_user):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        first = api.as_user(alice).post(DMS, {"user_ids": [bob.pk]}, format="json")
        assert first.status_code == 201
        assert first.json()["kind"] == "direct"
        again = api.as_user(bob).post(DMS, {"user_ids": [alice.pk, bob.pk]}, format="json")
        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
        group = api.as_user(carol).post(DMS, {"user_ids": [bob.pk, alice.pk]}, format="json")
        assert group.status_code == 201
        assert group.json()["id"] != first.json()["id"]
        same_group = api.as_user(alice).post(DMS, {"user_ids": [carol.pk, bob.pk, carol.pk]}, format="json")
        assert (same_group.status_code, same_group.json()["id"]) == (200, group.json()["id"])
        assert Room.objects.filter(kind="direct").count() == 2

    @pytest.mark.parametrize("who", ["self", "unknown", "inactive", "nobody"])
    def test_refuses_bad_participants(self, api, make_user, who):
        alice, banned = make_user("alice"), make_user("banned", is_active=False)
        ids = {"self": [alice.pk], "unknown": [999999], "inactive": [banned.pk], "nobody": []}[who]
        response = api.as_user(alice).post(DMS, {"user_ids": ids}, format="json")
        assert response.status_code == 400
        assert "user_ids" in response.json()
        assert not Room.objects.exists()


class TestUnreadCount:
    def unread(self, api, user, room) -> int:
        return next(r["unread_count"] for r in api.as_user(user).get(ROOMS).json() if r["id"] == room.pk)

    def test_counts_others_messages_after_the_read_marker(self, api, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, members=[bob])
        send(alice, room, "mine")
        assert self.unread(api, alice, room) == 0
        for body in ["one", "two", "three"]:
            send(bob, room, body)
        assert self.unread(api, alice, room) == 3
        assert self.unread(api, bob, room) == 0
        send(alice, room, "replying reads everything before it")
        assert self.unread(api, alice, room) == 0
        assert self.unread(api, bob, room) == 1

    def test_newcomer_starts_with_nothing_unread(self, api, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice)
        send(alice, room, "before bob")
        api.as_user(bob).post(f"{ROOMS}{room.pk}/join/")
        assert self.unread(api, bob, room) == 0
        send(alice, room, "after bob")
        assert self.unread(api, bob, room) == 1


def _rooms_for(user, count: int, peers) -> None:
    for i in range(count):
        kind = ["public", "private", "direct"][i % 3]
        if kind == "direct":
            room, _ = services.direct_get_or_create(creator=user, user_ids=[peers[i % len(peers)].pk, peers[i].pk])
        else:
            room = create_room(user, kind=kind, name=f"room {i}", members=[peers[i]])
        send(peers[i], room, f"message {i}")


def test_room_list_query_count_does_not_grow_with_rooms(api, make_user, django_assert_num_queries):
    peers = [make_user(f"peer{i}") for i in range(20)]
    few, many = make_user("few"), make_user("many")
    _rooms_for(few, 2, peers)
    _rooms_for(many, 20, peers)
    # The caller (token), the memberships with their rooms, the direct rooms' members,
    # the delivered and the read marker floors, the last messages and their attachments.
    with django_assert_num_queries(7):
        assert len(api.as_user(few).get(ROOMS).json()) == 2
    with django_assert_num_queries(7):
        rooms = api.as_user(many).get(ROOMS).json()
    assert len(rooms) == 20
    assert all(r["last_message"] is not None for r in rooms)


def test_public_room_search_with_a_nul_character_is_no_server_error(api, make_user):
    response = api.as_user(make_user("max")).get(f"{ROOMS}public/", {"search": "gen\x00"})
    assert response.status_code == 200  # PostgreSQL refuses NUL in a query: it was a 500


def test_room_fields_take_json_types_only(api, make_user):
    client = api.as_user(make_user("max"))
    response = client.post(ROOMS, {"name": "general", "kind": "public", "topic": 0}, format="json")
    assert response.status_code == 400 and response.json() == {"topic": ["Must be text."]}
    assert not Room.objects.exists()


def test_public_rooms_and_members_take_fixed_queries(api, make_user, django_assert_num_queries):
    owner, visitor = make_user("owner"), make_user("visitor")
    people = [make_user(f"member{i}") for i in range(15)]
    for i in range(12):
        create_room(owner, name=f"open {i}", members=people[: i + 1])
    big = create_room(owner, name="big", members=people)
    client = api.as_user(visitor)
    # The caller (token), the rooms with their member counts.
    with django_assert_num_queries(2):
        assert len(client.get(f"{ROOMS}public/").json()) == 13
    # The caller, the room (visible: public), the members with their users.
    with django_assert_num_queries(3):
        assert len(client.get(f"{ROOMS}{big.pk}/members/").json()) == 16
