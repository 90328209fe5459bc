"""Attachments in messages: every door carries them, the rules hold, and reads stay at fixed queries."""

import pytest
from channels.db import database_sync_to_async as db
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import search
from messaging import services as messaging
from messaging.models import Attachment, Message
from messaging.tests.filesamples import PDF, png, upload
from rooms.models import Room
from testsupport.factories import create_room, frames, record_published
from testsupport.wsclient import connect_as, receive_type, send

ROOMS = "/api/v1/rooms/"
pytestmark = pytest.mark.usefixtures("media_root")


def uploaded(user, name="photo.png", content=None) -> dict:
    return messaging.attachment_upload(uploader=user, file=upload(name, content or png()))


@pytest.fixture
def scene(make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room = create_room(alice, kind="private", members=[bob])
    return alice, bob, carol, room


def post(api, user, room, **fields):
    return api.as_user(user).post(f"{ROOMS}{room.pk}/messages/", fields, format="json")


@pytest.mark.django_db
class TestRest:
    def test_a_message_carries_its_attachments_in_the_order_given(self, api, scene):
        alice, bob, _, room = scene
        photo, report = uploaded(alice), uploaded(alice, "q3.pdf", PDF)
        response = post(api, alice, room, body="", attachments=[report["id"], photo["id"]])
        assert response.status_code == 201, response.content
        message = response.json()
        assert message["body"] == ""
        assert message["attachments"] == [report, photo]
        history = api.as_user(bob).get(f"{ROOMS}{room.pk}/messages/").json()["results"]
        assert history[-1]["attachments"] == [report, photo]

    def test_empty_body_without_attachments_is_still_refused(self, api, scene):
        alice, _, _, room = scene
        assert post(api, alice, room, body="").status_code == 400
        assert post(api, alice, room, attachments=[]).status_code == 400

    @pytest.mark.parametrize("case", ["foreign", "used", "missing", "duplicate", "eleven", "removed", "not_ids"])
    def test_bad_ids_store_no_message_and_claim_nothing(self, api, scene, case):
        alice, bob, _, room = scene
        own = uploaded(alice)
        ids = {
            "foreign": lambda: [own["id"], uploaded(bob)["id"]],
            "used": lambda: [own["id"], _used(alice, room)],
            "missing": lambda: [own["id"], 999_999_999],
            "duplicate": lambda: [own["id"], own["id"]],
            "eleven": lambda: [uploaded(alice)["id"] for _ in range(11)],
            "removed": lambda: [own["id"], _removed(alice)],
            "not_ids": lambda: [own["id"], "x"],
        }[case]()
        before = (Message.objects.count(), Room.objects.get(pk=room.pk).last_seq)
        response = post(api, alice, room, body="look", attachments=ids)
        assert response.status_code == 400, response.content
        assert "attachments" in response.json()
        assert (Message.objects.count(), Room.objects.get(pk=room.pk).last_seq) == before
        assert Attachment.objects.get(pk=own["id"]).message is None  # the good one is still free

    def test_an_upload_serves_one_message_only(self, api, scene):
        alice, _, _, room = scene
        photo = uploaded(alice)
        assert post(api, alice, room, body="one", attachments=[photo["id"]]).status_code == 201
        assert post(api, alice, room, body="two", attachments=[photo["id"]]).status_code == 400

    def test_resend_with_the_same_client_id_answers_the_first_message(self, api, scene):
        alice, _, _, room = scene
        photo = uploaded(alice)
        first = post(api, alice, room, body="", client_id="c1", attachments=[photo["id"]])
        again = post(api, alice, room, body="", client_id="c1", attachments=[photo["id"]])
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()

    def test_edit_keeps_attachments_and_may_empty_the_body(self, api, scene):
        alice, _, _, room = scene
        photo = uploaded(alice)
        sent = post(api, alice, room, body="caption", attachments=[photo["id"]]).json()
        edited = api.as_user(alice).patch(f"/api/v1/messages/{sent['id']}/", {"body": ""}, format="json")
        assert edited.status_code == 200, edited.content
        assert edited.json()["attachments"] == [photo]
        plain = post(api, alice, room, body="text only").json()
        assert (
            api.as_user(alice).patch(f"/api/v1/messages/{plain['id']}/", {"body": ""}, format="json").status_code == 400
        )

    def test_delete_hides_attachments_and_frees_nothing_for_reuse(self, api, scene):
        alice, bob, _, room = scene
        photo = uploaded(alice)
        sent = post(api, alice, room, body="oops", attachments=[photo["id"]]).json()
        assert api.as_user(alice).delete(f"/api/v1/messages/{sent['id']}/").status_code == 204
        history = api.as_user(bob).get(f"{ROOMS}{room.pk}/messages/").json()["results"]
        assert history[-1]["deleted"] and history[-1]["attachments"] == []
        for user in (alice, bob):
            assert api.as_user(user).get(photo["url"]).status_code == 404
        assert post(api, alice, room, body="again", attachments=[photo["id"]]).status_code == 400

    def test_search_results_carry_attachments(self, scene):
        alice, bob, _, room = scene
        photo = uploaded(alice)
        messaging.message_send(sender=alice, room_id=room.pk, body="holiday pictures", attachments=[photo["id"]])
        (result,) = search.message_search(user=bob, q="holiday")["results"]
        assert result["message"]["attachments"] == [photo]


def _used(user, room) -> int:
    attachment = uploaded(user)
    messaging.message_send(sender=user, room_id=room.pk, body="earlier", attachments=[attachment["id"]])
    return attachment["id"]


def _removed(user) -> int:
    from django.utils import timezone

    attachment = uploaded(user)
    Attachment.objects.filter(pk=attachment["id"]).update(removed_at=timezone.now())
    return attachment["id"]


@pytest.mark.django_db
class TestQueries:
    def test_history_takes_the_same_queries_whatever_the_attachments(self, api, scene, django_assert_num_queries):
        alice, bob, _, room = scene
        other = create_room(alice, kind="private", name="other", members=[bob])
        messaging.message_send(sender=alice, room_id=other.pk, body="plain")
        for i in range(30):
            sender = [alice, bob][i % 2]
            ids = [uploaded(sender)["id"] for _ in range(i % 3)]
            messaging.message_send(sender=sender, room_id=room.pk, body=f"m{i}", attachments=ids or None)
        client = api.as_user(bob)
        # user, room, visibility, messages, their attachments, two marker floors
        with django_assert_num_queries(7):
            page = client.get(f"{ROOMS}{room.pk}/messages/?limit=200").json()["results"]
        assert sum(len(m["attachments"]) for m in page) == 30
        with django_assert_num_queries(7):
            assert len(client.get(f"{ROOMS}{other.pk}/messages/").json()["results"]) == 1

    def test_sending_with_attachments_costs_two_queries_more(self, scene, django_assert_num_queries):
        alice, _, _, room = scene
        messaging.message_send(sender=alice, room_id=room.pk, body="warm up")
        with CaptureQueriesContext(connection) as plain:
            messaging.message_send(sender=alice, room_id=room.pk, body="plain")
        ids = [uploaded(alice)["id"] for _ in range(10)]
        with django_assert_num_queries(len(plain) + 2):  # claim them (one UPDATE), read them back
            result = messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=ids)
        assert [a["id"] for a in result.data["attachments"]] == ids


@pytest.mark.django_db
class TestEvents:
    def test_message_new_and_updated_carry_attachments(self, scene, monkeypatch, django_capture_on_commit_callbacks):
        alice, _, _, room = scene
        published = record_published(monkeypatch)
        photo = uploaded(alice)
        with django_capture_on_commit_callbacks(execute=True):
            sent = messaging.message_send(sender=alice, room_id=room.pk, body="pic", attachments=[photo["id"]])
        with django_capture_on_commit_callbacks(execute=True):
            messaging.message_edit(actor=alice, message_id=sent.message.pk, body="better caption")
        ((_, new),), ((_, updated),) = frames(published, "message.new"), frames(published, "message.updated")
        assert new["message"]["attachments"] == [photo]
        assert updated["message"]["attachments"] == [photo]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_websocket_send_ack_new_and_sync_carry_attachments(scene):
    alice, bob, _, room = scene
    photo = await db(uploaded)(alice)
    foreign = await db(uploaded)(bob)
    alice_ws, _ = await connect_as(alice)
    bob_ws, _ = await connect_as(bob)
    await send(
        alice_ws,
        {"type": "message.send", "room": room.pk, "body": "", "client_id": "bad", "attachments": [foreign["id"]]},
    )
    error = await receive_type(alice_ws, "error")
    assert (error["code"], error["ref"]) == ("invalid", "bad")
    await send(
        alice_ws, {"type": "message.send", "room": room.pk, "body": "", "client_id": "a1", "attachments": [photo["id"]]}
    )
    ack = await receive_type(alice_ws, "message.ack")
    assert ack["message"]["seq"] == 1  # the refused send used no seq
    assert ack["message"]["attachments"] == [photo]
    new = await receive_type(bob_ws, "message.new")
    assert new["message"]["attachments"] == [photo]
    await send(bob_ws, {"type": "sync", "room": room.pk, "after": 0})
    sync = await receive_type(bob_ws, "sync")
    assert sync["messages"][0]["attachments"] == [photo]
    for ws in (alice_ws, bob_ws):
        await ws.disconnect()
