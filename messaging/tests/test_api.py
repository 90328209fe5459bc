import pytest

from messaging import services as message_services
from messaging.models import Message
from rooms import services as room_services
from testsupport.factories import (
    KINDS,
    MESSAGE_KEYS,
    assert_outcome,
    build_scene,
    create_room,
    matrix_cases,
    send,
    snapshot,
)

pytestmark = pytest.mark.django_db

ROOMS = "/api/v1/rooms/"
MESSAGES = "/api/v1/messages/"

DOORS = {
    "history": lambda api, s, kind: api.get(f"{ROOMS}{s.rooms[kind].pk}/messages/"),
    "post": lambda api, s, kind: api.post(f"{ROOMS}{s.rooms[kind].pk}/messages/", {"body": "hi"}, format="json"),
    "edit": lambda api, s, kind: api.patch(f"{MESSAGES}{s.messages[kind].pk}/", {"body": "edited"}, format="json"),
    "delete": lambda api, s, kind: api.delete(f"{MESSAGES}{s.messages[kind].pk}/"),
}

# Relations, left to right: member (the author of the message), owner, outsider, removed member,
# site moderator. In the direct conversation `owner` is a plain participant.
EXPECTED = {
    #            public                 private                direct
    "history": ("200 200 200 200 200", "200 200 404 404 200", "200 200 404 404 200"),
    "post": ("201 201 403 403 403", "201 201 404 404 403", "201 201 404 404 403"),
    "edit": ("200 403 403 403 403", "200 403 404 404 403", "200 403 404 404 403"),
    "delete": ("204 204 403 403 204", "204 204 404 404 204", "204 403 404 404 204"),
}


@pytest.fixture
def scene():
    return build_scene()


@pytest.mark.parametrize("door,kind,relation,status", matrix_cases(EXPECTED))
def test_permission_matrix(api, scene, door, kind, relation, status):
    before = snapshot()
    response = DOORS[door](api.as_user(getattr(scene, relation)), scene, kind)
    assert_outcome(response, status, before)
    if status == 200 and door == "history":
        assert [m["body"] for m in response.json()["results"]] == [f"hello {kind}"]
    if status == 201:
        assert set(response.json()) == MESSAGE_KEYS
        assert response.json()["seq"] == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("relation", ["inactive", "anonymous"])
def test_banned_and_anonymous_callers_get_401(api, scene, door, kind, relation):
    before = snapshot()
    response = DOORS[door](api.as_user(scene.inactive if relation == "inactive" else None), scene, kind)
    assert_outcome(response, 401, before)


def test_removed_author_can_no_longer_edit_or_delete(api, scene):
    message = send(scene.other, scene.rooms["public"], "before removal")
    api.as_user(scene.owner).delete(f"{ROOMS}{scene.rooms['public'].pk}/members/{scene.other.pk}/")
    other = api.as_user(scene.other)
    assert other.patch(f"{MESSAGES}{message.pk}/", {"body": "x"}, format="json").status_code == 403
    assert other.delete(f"{MESSAGES}{message.pk}/").status_code == 403


def test_deleted_message_keeps_its_seq_and_shows_as_deleted(api, scene):
    room = scene.rooms["public"]
    send(scene.other, room, "after")
    member = api.as_user(scene.member)
    assert member.delete(f"{MESSAGES}{scene.messages['public'].pk}/").status_code == 204
    results = member.get(f"{ROOMS}{room.pk}/messages/").json()["results"]
    assert [(m["seq"], m["deleted"], m["body"]) for m in results] == [(1, True, ""), (2, False, "after")]
    edit = member.patch(f"{MESSAGES}{results[0]['id']}/", {"body": "resurrected"}, format="json")
    assert (edit.status_code, edit.json()["code"]) == (400, "invalid")
    assert member.delete(f"{MESSAGES}{results[0]['id']}/").status_code == 204  # deleting twice is harmless


def test_edit_changes_body_and_stamps_edited_at(api, scene):
    response = api.as_user(scene.member).patch(
        f"{MESSAGES}{scene.messages['private'].pk}/", {"body": "better"}, format="json"
    )
    assert response.json()["body"] == "better"
    assert response.json()["edited_at"] is not None
    assert response.json()["seq"] == 1


class TestSend:
    def test_same_client_id_answers_the_same_message(self, api, scene):
        url = f"{ROOMS}{scene.rooms['public'].pk}/messages/"
        member = api.as_user(scene.member)
        first = member.post(url, {"body": "once", "client_id": "c-1"}, format="json")
        again = member.post(url, {"body": "once, retried", "client_id": "c-1"}, format="json")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert Message.objects.filter(client_id="c-1").count() == 1
        other_room = f"{ROOMS}{scene.rooms['private'].pk}/messages/"
        assert "client_id" in member.post(other_room, {"body": "x", "client_id": "c-1"}, format="json").json()

    def test_other_senders_may_reuse_a_client_id(self, api, scene):
        url = f"{ROOMS}{scene.rooms['public'].pk}/messages/"
        a = api.as_user(scene.member).post(url, {"body": "a", "client_id": "same"}, format="json")
        b = api.as_user(scene.owner).post(url, {"body": "b", "client_id": "same"}, format="json")
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["id"] != b.json()["id"]

    @pytest.mark.parametrize(
        "payload,field",
        [
            ({"body": "   "}, "body"),
            ({"body": "x" * 10_001}, "body"),
            ({"body": "hi", "client_id": "c" * 65}, "client_id"),
            ({}, "body"),
        ],
    )
    def test_bad_input_is_refused_with_the_field(self, api, scene, payload, field):
        url = f"{ROOMS}{scene.rooms['public'].pk}/messages/"
        response = api.as_user(scene.member).post(url, payload, format="json")
        assert response.status_code == 400
        assert field in response.json()
        assert Message.objects.count() == 3

    def test_reply_to_must_be_in_the_same_room(self, api, scene):
        url = f"{ROOMS}{scene.rooms['public'].pk}/messages/"
        member = api.as_user(scene.member)
        elsewhere = {"body": "re", "reply_to": scene.messages["private"].pk}
        assert "reply_to" in member.post(url, elsewhere, format="json").json()
        here = member.post(url, {"body": "re", "reply_to": scene.messages["public"].pk}, format="json")
        assert here.json()["reply_to"] == scene.messages["public"].pk
        assert here.json()["seq"] == 2  # the refused reply used no seq

    def test_unknown_room_is_not_found(self, api, scene):
        response = api.as_user(scene.moderator).post(f"{ROOMS}999999/messages/", {"body": "hi"}, format="json")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


class TestHistory:
    @pytest.fixture
    def room(self, make_user):
        alice = make_user("alice")
        return create_room(alice), alice

    def page(self, api, user, room, **params):
        response = api.as_user(user).get(f"{ROOMS}{room.pk}/messages/", params)
        assert response.status_code == 200, response.content
        body = response.json()
        seqs = [m["seq"] for m in body["results"]]
        assert seqs == sorted(seqs)
        return seqs, body["has_more"]

    def test_empty_room(self, api, room):
        room, alice = room
        for params in [{}, {"before": 5}, {"after": 0}, {"after": 3, "limit": 1}]:
            assert self.page(api, alice, room, **params) == ([], False)

    @pytest.mark.parametrize(
        "params,seqs,has_more",
        [
            ({}, list(range(1, 11)), False),
            ({"limit": 10}, list(range(1, 11)), False),  # exactly full, nothing left
            ({"limit": 9}, list(range(2, 11)), True),
            ({"limit": 5}, [6, 7, 8, 9, 10], True),
            ({"before": 6, "limit": 5}, [1, 2, 3, 4, 5], False),
            ({"before": 6, "limit": 4}, [2, 3, 4, 5], True),
            ({"before": 1}, [], False),
            ({"after": 0, "limit": 5}, [1, 2, 3, 4, 5], True),
            ({"after": 5, "limit": 5}, [6, 7, 8, 9, 10], False),
            ({"after": 10}, [], False),
            ({"after": 3, "before": 8}, [4, 5, 6, 7], False),
            ({"after": 3, "before": 8, "limit": 2}, [4, 5], True),
            ({"limit": 200}, list(range(1, 11)), False),
        ],
    )
    def test_pages(self, api, room, params, seqs, has_more):
        room, alice = room
        for i in range(10):
            send(alice, room, f"m{i + 1}")
        assert self.page(api, alice, room, **params) == (seqs, has_more)

    @pytest.mark.parametrize(
        "params,field",
        [
            ({"limit": 201}, "limit"),
            ({"limit": 0}, "limit"),
            ({"limit": -1}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"before": "abc"}, "before"),
            ({"before": -1}, "before"),
            ({"after": "abc"}, "after"),
            ({"after": -3}, "after"),
            ({"after": "1.5"}, "after"),
        ],
    )
    def test_bad_parameters_are_refused(self, api, room, params, field):
        room, alice = room
        response = api.as_user(alice).get(f"{ROOMS}{room.pk}/messages/", params)
        assert response.status_code == 400
        assert field in response.json()

    def test_query_count_does_not_grow_with_the_page(self, api, room, make_user, django_assert_num_queries):
        small, alice = room
        bob, carol = make_user("bob"), make_user("carol")
        large = create_room(alice, name="large", members=[bob, carol])
        for user in [bob, carol]:
            room_services.member_add(actor=alice, room_id=small.pk, user_id=user.pk)
        # Several senders, replies and deleted messages: nothing on the page may cost a query.
        message = None
        for i in range(100):
            sender = [alice, bob, carol][i % 3]
            message = send(sender, large, f"large {i}", reply_to=message.pk if message else None)
            if i < 5:
                send(sender, small, f"small {i}")
            if i % 10 == 0:
                message_services.message_delete(actor=sender, message_id=message.pk)
        # The caller (token), the room, the page, its attachments, the delivered and the read marker floors.
        with django_assert_num_queries(6):
            assert len(self.page(api, alice, small, limit=200)[0]) == 5
        with django_assert_num_queries(6):
            assert len(self.page(api, alice, large, limit=200)[0]) == 100
