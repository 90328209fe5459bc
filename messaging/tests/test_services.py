import json

import pytest
from django.db import transaction

from chatproject.errors import FieldErrors, NotFound, PermissionDenied
from conftest import needs_services
from messaging import services
from messaging.models import Message
from rooms import services as room_services
from rooms.models import Room
from testsupport.factories import (
    MESSAGE_KEYS,
    add_members,
    create_room,
    frames,
    record_published,
    run_threads,
    send,
)


@pytest.fixture
def published(monkeypatch):
    return record_published(monkeypatch)


@pytest.mark.django_db
class TestEvents:
    @pytest.fixture
    def people(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        return alice, bob, create_room(alice, members=[bob])

    def test_send_publishes_message_new_after_commit(self, people, published, django_capture_on_commit_callbacks):
        alice, _, room = people
        with django_capture_on_commit_callbacks(execute=True):
            result = services.message_send(sender=alice, room_id=room.pk, body="hi @bob", client_id="c1")
            assert published == []  # nothing leaves before the commit
        [(group, frame)] = frames(published, "message.new")
        assert group == f"room.{room.pk}"
        assert set(frame["message"]) == MESSAGE_KEYS
        assert frame["message"] == json.loads(json.dumps(result.data))
        [(group, frame)] = frames(published, "notification")
        assert group == f"user.{people[1].pk}"
        assert frame["notification"]["kind"] == "mention"

    def test_rolled_back_send_publishes_nothing_and_uses_no_seq(
        self, people, published, django_capture_on_commit_callbacks
    ):
        alice, bob, room = people
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                send(alice, room, "hi @bob")
                services.message_edit(actor=alice, message_id=Message.objects.get().pk, body="edited")
                raise RuntimeError("the caller's transaction fails")
        assert (callbacks, published) == ([], [])
        assert not Message.objects.exists()
        assert send(bob, room, "first for real").seq == 1

    def test_edit_and_delete_frames(self, people, published, django_capture_on_commit_callbacks):
        alice, _, room = people
        message = send(alice, room)
        with django_capture_on_commit_callbacks(execute=True):
            services.message_edit(actor=alice, message_id=message.pk, body="better")
            services.message_delete(actor=alice, message_id=message.pk)
        [(_, updated)] = frames(published, "message.updated")
        assert set(updated["message"]) == MESSAGE_KEYS
        assert updated["message"]["body"] == "better"
        [(group, deleted)] = frames(published, "message.deleted")
        assert group == f"room.{room.pk}"
        assert {"type", "room", "id"} <= set(deleted)
        assert (deleted["room"], deleted["id"]) == (room.pk, message.pk)

    def test_refused_calls_publish_nothing(self, people, make_user, published, django_capture_on_commit_callbacks):
        alice, bob, room = people
        message = send(alice, room)
        with django_capture_on_commit_callbacks(execute=True):
            with pytest.raises(PermissionDenied):
                services.message_send(sender=make_user("carol"), room_id=room.pk, body="hi")
            with pytest.raises(PermissionDenied):
                services.message_edit(actor=bob, message_id=message.pk, body="not mine")
            with pytest.raises(PermissionDenied):
                services.message_delete(actor=bob, message_id=message.pk)
        assert published == []


@pytest.mark.django_db
class TestSend:
    def test_resend_with_client_id_returns_the_first_message(self, make_user):
        alice = make_user("alice")
        room = create_room(alice)
        first = services.message_send(sender=alice, room_id=room.pk, body="once", client_id="abc")
        again = services.message_send(sender=alice, room_id=room.pk, body="twice", client_id="abc")
        assert (first.created, again.created) == (True, False)
        assert again.data == first.data
        assert Message.objects.count() == 1
        other = create_room(alice, name="other")
        with pytest.raises(FieldErrors):
            services.message_send(sender=alice, room_id=other.pk, body="x", client_id="abc")

    def test_hidden_room_is_not_found_and_visible_room_is_forbidden(self, make_user):
        alice, bob = make_user("alice"), make_user("bob")
        with pytest.raises(NotFound):
            send(bob, create_room(alice, kind="private"))
        with pytest.raises(PermissionDenied):
            send(bob, create_room(alice, kind="public", name="open"))
        assert Room.objects.filter(last_seq__gt=0).count() == 0


SEND_QUERIES = 5


@pytest.mark.django_db
class TestSendQueryCount:
    def test_does_not_grow_with_the_room(self, make_user, django_assert_num_queries):
        alice = make_user("alice")
        small = create_room(alice, name="small")
        add_members(small, 2, prefix="small")
        large = create_room(alice, name="large")
        add_members(large, 299, prefix="large")
        send(alice, small), send(alice, large)  # warm up: the first message of a room is no different
        # Savepoint, seq allocation (with the membership check), the sender's markers, the
        # insert, release: nothing per member. (Outside a test's transaction the savepoint
        # pair is BEGIN/COMMIT.)
        with django_assert_num_queries(SEND_QUERIES):
            send(alice, small, "hello everyone")
        with django_assert_num_queries(SEND_QUERIES):
            send(alice, large, "hello everyone")

    def test_direct_and_mentions_do_not_grow_with_recipients(self, make_user, django_assert_num_queries):
        users = [make_user(f"u{i}") for i in range(10)]
        pair, _ = room_services.direct_get_or_create(creator=users[0], user_ids=[users[1].pk])
        group, _ = room_services.direct_get_or_create(creator=users[0], user_ids=[u.pk for u in users[1:]])
        # The plain send plus two: who is notified (one select), the notifications (one bulk insert).
        with django_assert_num_queries(SEND_QUERIES + 2):
            send(users[0], pair)
        with django_assert_num_queries(SEND_QUERIES + 2):
            send(users[0], group)
        room = create_room(users[0], members=users[1:])
        # Mentions in a group room also count the members first (a large room's
        # notifications go to the task queue instead).
        with django_assert_num_queries(SEND_QUERIES + 3):
            send(users[0], room, "@u1")
        with django_assert_num_queries(SEND_QUERIES + 3):
            send(users[0], room, " ".join(f"@u{i}" for i in range(1, 10)))


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    THREADS, SENDS = 8, 25

    def test_concurrent_senders_get_gapless_seqs_in_commit_order(self, make_user, published):
        needs_services(postgres=True)
        senders = [make_user(f"sender{i}") for i in range(self.THREADS)]
        room = create_room(senders[0], members=senders[1:])

        def send_many(i):
            for n in range(self.SENDS):
                services.message_send(sender=senders[i], room_id=room.pk, body=f"{i}:{n}", client_id=f"{i}-{n}")

        run_threads(self.THREADS, send_many)
        total = self.THREADS * self.SENDS
        rows = list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "sender_id", "body"))
        assert [seq for seq, _, _ in rows] == list(range(1, total + 1))
        for sender in senders:  # each sender's messages keep the order they were sent in
            assert [body for _, sid, body in rows if sid == sender.pk] == [
                f"{senders.index(sender)}:{n}" for n in range(self.SENDS)
            ]
        room.refresh_from_db()
        assert room.last_seq == total
        assert sorted(f["message"]["seq"] for _, f in frames(published, "message.new")) == list(range(1, total + 1))

    def test_racing_duplicates_of_one_client_id_make_one_message(self, make_user, published):
        needs_services(postgres=True)
        alice = make_user("alice")
        room = create_room(alice)
        results = run_threads(
            self.THREADS,
            lambda i: services.message_send(sender=alice, room_id=room.pk, body=f"try {i}", client_id="once"),
        )
        assert sum(r.created for r in results) == 1
        assert {r.message.pk for r in results} == {Message.objects.get().pk}
        assert len({json.dumps(r.data, sort_keys=True) for r in results}) == 1
        room.refresh_from_db()
        assert room.last_seq == 1  # the losers' seqs were rolled back: no gap
        assert len(frames(published, "message.new")) == 1
