"""Sends that arrive together share a transaction (services.message_send_many, messaging/batching.py).

Each send of a batch gets what message_send alone would give it: its message, its error,
its first message on a resend; seqs stay gapless and in arrival order per room; events
leave after the commit; a batch that fails stores nothing twice.
"""

import asyncio
import json
import threading
import time

import pytest
from channels.db import database_sync_to_async as db
from django.db import connection, transaction

from chatproject.errors import FieldErrors, FieldTooLarge, NotFound, PermissionDenied
from chatproject.testing import SERVERS, ServerProcess
from chatproject.tests.test_realtime import metric, open_ws, room_with, server_env
from conftest import needs_services
from messaging import batching, services
from messaging.hooks import message_stored
from messaging.models import Message
from messaging.services import SendRequest, SendResult
from rooms.models import Room
from testsupport.factories import create_room, frames, record_published, run_threads, send


@pytest.fixture
def published(monkeypatch):
    return record_published(monkeypatch)


def stored(room: Room) -> list[tuple[int, str, str]]:
    return list(Message.objects.filter(room=room).order_by("seq").values_list("seq", "sender__username", "body"))


@pytest.mark.django_db(transaction=True)
class TestOneBatch:
    @pytest.fixture
    def scene(self, make_user):
        alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
        general = create_room(alice, members=[bob])
        other = create_room(bob, name="other", members=[alice])
        secret = create_room(carol, name="secret", kind="private")
        return alice, bob, carol, general, other, secret

    def test_each_send_gets_what_message_send_would_give_it(self, scene, published):
        alice, bob, carol, general, other, secret = scene
        first = send(alice, general, "first", client_id="a0")
        requests = [
            SendRequest(alice, general.pk, "one", "a1", skip_conn="conn-a"),
            SendRequest(bob, other.pk, "in other", "b1"),
            SendRequest(carol, general.pk, "not a member", "c1"),  # public room: may see, not post
            SendRequest(alice, secret.pk, "hidden room", "a2"),
            SendRequest(alice, general.pk, "again", "a0"),  # a resend: the first message back
            SendRequest(bob, general.pk, "   ", "b2"),
            SendRequest(bob, general.pk, "re", "b3", reply_to=first.pk),
            SendRequest(bob, general.pk, "re nothing", "b4", reply_to=first.pk + 1000),
            SendRequest(alice, general.pk, "x" * 100_000, "a3"),
            SendRequest(alice, general.pk, "two", "a4"),
        ]
        published.clear()
        outcomes = services.message_send_many(requests)

        ok = [o for o in outcomes if isinstance(o, SendResult)]
        assert [(o.message.body, o.created) for o in ok] == [
            ("one", True),
            ("in other", True),
            ("first", False),
            ("re", True),
            ("two", True),
        ]
        assert isinstance(outcomes[2], PermissionDenied)
        assert isinstance(outcomes[3], NotFound)
        assert isinstance(outcomes[5], FieldErrors) and isinstance(outcomes[7], FieldErrors)
        assert isinstance(outcomes[8], FieldTooLarge)
        assert outcomes[4].message.pk == first.pk and outcomes[4].data["body"] == "first"
        # Gapless, in arrival order per room; nothing of the refused sends stored.
        assert stored(general) == [(1, "alice", "first"), (2, "alice", "one"), (3, "bob", "re"), (4, "alice", "two")]
        assert stored(other) == [(1, "bob", "in other")]
        assert Room.objects.get(pk=general.pk).last_seq == 4 and Room.objects.get(pk=secret.pk).last_seq == 0
        assert outcomes[6].message.reply_to_id == first.pk and outcomes[6].data["reply_to"] == first.pk
        # What the ack carries is what a resend (read back from the database) shows, but for the status.
        for outcome in (outcomes[0], outcomes[1], outcomes[6], outcomes[9]):
            message = outcome.message
            again = services.message_send(
                sender=message.sender, room_id=message.room_id, body="?", client_id=message.client_id
            )
            assert not again.created and {**again.data, "status": "sent"} == outcome.data
        # One message.new per stored message, to its room, after the commit; the sending connection skipped.
        new = [(topic, event) for topic, event in published if '"message.new"' in event.get("text", "")]
        assert len(new) == 4
        skips = {f["message"]["body"]: e.get("skip_conn") for (_, f), (_, e) in zip(frames(new), new, strict=True)}
        assert skips == {"one": "conn-a", "in other": None, "re": None, "two": None}
        assert {topic for topic, _ in new} == {f"room.{general.pk}", f"room.{other.pk}"}

    def test_a_sender_reads_what_they_wrote_in_the_batch(self, scene):
        alice, bob, _, general, _, _ = scene
        services.message_send_many([SendRequest(alice, general.pk, "1", "x1"), SendRequest(bob, general.pk, "2", "y1")])
        from rooms.models import Membership

        markers = dict(Membership.objects.filter(room=general).values_list("user__username", "read_seq"))
        assert markers == {"alice": 1, "bob": 2}


@pytest.mark.django_db(transaction=True)
class TestFailedBatches:
    def test_a_batch_whose_hook_fails_is_sent_one_by_one_and_stores_each_message_once(
        self, make_user, published, monkeypatch
    ):
        needs_services(postgres=True)
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, members=[bob])
        failures = []

        def fail_once(*, message, room_kind):
            if not failures:
                failures.append(message.body)
                raise RuntimeError("a receiver failed")

        monkeypatch.setattr(message_stored, "receivers", [*message_stored.receivers, fail_once])
        outcomes = services.message_send_many(
            [SendRequest(alice, room.pk, "1", "a1"), SendRequest(bob, room.pk, "2", "b1")]
        )
        assert failures == ["1"]
        assert [(o.message.body, o.created) for o in outcomes] == [("1", True), ("2", True)]
        assert stored(room) == [(1, "alice", "1"), (2, "bob", "2")]
        assert sorted(f["message"]["seq"] for _, f in frames(published, "message.new")) == [1, 2]

    def test_a_send_racing_the_batch_for_its_client_id_fails_it_and_every_send_is_answered_once(
        self, make_user, published, caplog
    ):
        needs_services(postgres=True)
        alice, bob = make_user("alice"), make_user("bob")
        room = create_room(alice, members=[bob])
        elsewhere = create_room(alice, name="elsewhere")
        first_in, release = threading.Event(), threading.Event()

        def first_attempt():
            try:
                with transaction.atomic():  # stored in another room, not yet committed
                    services.message_send(sender=alice, room_id=elsewhere.pk, body="first try", client_id="dup")
                    first_in.set()
                    release.wait(10)
            finally:
                connection.close()

        def batch():
            try:
                return services.message_send_many(
                    [
                        SendRequest(bob, room.pk, "before", "b1"),
                        SendRequest(alice, room.pk, "second try", "dup"),
                        SendRequest(bob, room.pk, "after", "b2"),
                    ]
                )
            finally:
                connection.close()

        first = threading.Thread(target=first_attempt)
        first.start()
        assert first_in.wait(10)
        answers = []
        batcher = threading.Thread(target=lambda: answers.append(batch()))
        batcher.start()
        time.sleep(0.5)  # the batch now waits on the unique index for the first attempt, which then commits
        release.set()
        first.join(10)
        batcher.join(10)
        [outcomes] = answers
        assert "sending them one by one" in caplog.text  # the batch failed on the index and was rolled back
        assert [(o.message.body, o.created) for o in (outcomes[0], outcomes[2])] == [("before", True), ("after", True)]
        assert isinstance(outcomes[1], FieldErrors) and "another room" in str(outcomes[1])
        assert stored(room) == [(1, "bob", "before"), (2, "bob", "after")]
        assert Room.objects.get(pk=room.pk).last_seq == 2
        bodies = sorted(f["message"]["body"] for _, f in frames(published, "message.new"))
        assert bodies == ["after", "before", "first try"]

    def test_concurrent_batches_over_the_same_rooms_neither_deadlock_nor_leave_gaps(self, make_user):
        needs_services(postgres=True)
        users = [make_user(f"u{i}") for i in range(4)]
        rooms = [create_room(users[0], name=f"r{n}", members=users[1:]) for n in range(4)]
        rounds = 20

        def batches(i):
            # Each thread names the rooms in another order.
            order = rooms[i:] + rooms[:i]
            for n in range(rounds):
                outcomes = services.message_send_many(
                    [SendRequest(users[i], room.pk, f"{i}:{n}", f"{i}-{room.pk}-{n}") for room in order]
                )
                assert all(isinstance(o, SendResult) and o.created for o in outcomes), outcomes

        run_threads(4, batches)
        for room in rooms:
            assert [seq for seq, _, _ in stored(room)] == list(range(1, 4 * rounds + 1))
            for i, user in enumerate(users):  # each sender's messages in the order sent
                assert [body for _, name, body in stored(room) if name == user.username] == [
                    f"{i}:{n}" for n in range(rounds)
                ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
class TestBatcher:
    async def test_sends_that_arrive_while_a_batch_runs_go_together_in_the_next(self, make_user, monkeypatch):
        alice = await db(make_user)("alice")
        room = await db(create_room)(alice)
        batches = []
        real = services.message_send_many

        def recording(requests):
            batches.append([r.body for r in requests])
            time.sleep(0.2)  # a slow commit: the next sends arrive meanwhile
            return real(requests)

        monkeypatch.setattr(services, "message_send_many", recording)
        batcher = batching.SendBatcher(in_flight=1, max_size=3)
        lone = await batcher.send(SendRequest(alice, room.pk, "alone", "c0"))
        assert lone.created and batches == [["alone"]]  # a send on a quiet server waits for nobody

        first = asyncio.ensure_future(batcher.send(SendRequest(alice, room.pk, "m1", "c1")))
        await asyncio.sleep(0.05)
        rest = [batcher.send(SendRequest(alice, room.pk, f"m{n}", f"c{n}")) for n in range(2, 7)]
        results = await asyncio.gather(first, *rest)
        assert batches[1:] == [["m1"], ["m2", "m3", "m4"], ["m5", "m6"]]
        assert [r.message.seq for r in results] == [2, 3, 4, 5, 6, 7]

    async def test_each_send_hears_its_own_error_and_the_others_are_stored(self, make_user):
        alice, bob = await db(make_user)("alice"), await db(make_user)("bob")
        room = await db(create_room)(alice)
        batcher = batching.SendBatcher(in_flight=1, max_size=10)
        outcomes = await asyncio.gather(
            batcher.send(SendRequest(alice, room.pk, "ok", "a1")),
            batcher.send(SendRequest(bob, room.pk, "not a member", "b1")),
            batcher.send(SendRequest(alice, room.pk, "", "a2")),
            batcher.send(SendRequest(alice, room.pk, "ok too", "a3")),
            return_exceptions=True,
        )
        assert [type(o).__name__ for o in outcomes] == ["SendResult", "PermissionDenied", "FieldErrors", "SendResult"]
        assert [o.message.seq for o in (outcomes[0], outcomes[3])] == [1, 2]

    async def test_when_the_whole_batch_fails_every_send_hears_it(self, make_user, monkeypatch):
        alice = await db(make_user)("alice")
        room = await db(create_room)(alice)

        def database_down(requests):
            from django.db import OperationalError

            raise OperationalError("connection refused")

        monkeypatch.setattr(services, "message_send_many", database_down)
        batcher = batching.SendBatcher(in_flight=2, max_size=10)
        outcomes = await asyncio.gather(
            *(batcher.send(SendRequest(alice, room.pk, f"m{n}", f"c{n}")) for n in range(3)), return_exceptions=True
        )
        assert [type(o).__name__ for o in outcomes] == ["OperationalError"] * 3
        assert batcher.running == 0 and batcher.waiting == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.services
@pytest.mark.parametrize("server_kind", SERVERS)
async def test_a_burst_of_sends_from_many_sockets_is_acked_once_each_and_delivered_once_to_every_member(
    make_user, server_kind
):
    # Over a real server: every socket of three rooms fires its sends at once, so they
    # reach the batcher together; each must still behave exactly as alone.
    rooms_of, per_user = 3, 12
    users = [await db(make_user)(f"u{i}") for i in range(rooms_of * 4)]
    members = [users[n * 4 : n * 4 + 4] for n in range(rooms_of)]
    rooms = [await room_with(*group, name=f"r{n}") for n, group in enumerate(members)]
    with ServerProcess(server_env(), server=server_kind) as server:
        sockets = [(await open_ws(server, user))[0] for user in users]

        async def burst(ws, user, room):
            def frame(body, n):
                payload = {"type": "message.send", "room": room.pk, "body": body, "client_id": f"{user.pk}-{n}"}
                return json.dumps(payload)

            for n in range(per_user):
                await ws.send(frame(f"{n}", n))
            await ws.send(frame("again", 0))

        async def collect(ws, expected_frames):
            got = []
            async with asyncio.timeout(30):
                while len(got) < expected_frames:
                    frame = json.loads(await ws.recv())
                    if frame["type"] in ("message.ack", "message.new", "error"):
                        got.append(frame)
            return got

        per_room_total = 4 * per_user
        # Each socket: its own acks (one per send, the resend included) and the others' messages.
        expected = per_user + 1 + (per_room_total - per_user)
        collectors = [asyncio.ensure_future(collect(ws, expected)) for ws in sockets]
        await asyncio.gather(
            *(burst(ws, user, rooms[i // 4]) for i, (ws, user) in enumerate(zip(sockets, users, strict=True)))
        )
        received = await asyncio.gather(*collectors)
        batches = metric(server, "chat_send_batch_size_count")
        for ws in sockets:
            await ws.close()

    for i, (user, frames_) in enumerate(zip(users, received, strict=True)):
        assert not [f for f in frames_ if f["type"] == "error"]
        acks = [f["message"] for f in frames_ if f["type"] == "message.ack"]
        assert [a["client_id"] for a in acks] == [f"{user.pk}-{n}" for n in range(per_user)] + [f"{user.pk}-0"]
        assert acks[-1] == {**acks[0], "status": acks[-1]["status"]}  # the resend: the first message back
        seqs = [a["seq"] for a in acks[:-1]]
        assert seqs == sorted(seqs)  # a socket's sends keep their order
        others = [f["message"] for f in frames_ if f["type"] == "message.new"]
        assert all(m["sender"]["id"] != user.pk for m in others)
        assert len({m["id"] for m in others}) == len(others) == per_room_total - per_user
        room_seqs = sorted(seqs + [m["seq"] for m in others])
        assert room_seqs == list(range(1, per_room_total + 1)), f"{server_kind}: room {i // 4} has gaps"
    # Not every send had a transaction of its own: some arrived together and shared one.
    assert 0 < batches < len(users) * (per_user + 1)
