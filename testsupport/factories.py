"""Rooms, members and messages for tests, built through the services like a real user would."""

import json
import threading
from types import SimpleNamespace

import orjson
from django.db import connection

from accounts import roles
from accounts import services as account_services
from accounts.models import User
from accounts.tests.factories import create_user
from messaging import services as message_services
from messaging.models import Message
from rooms import services as room_services
from rooms.models import Membership, Room

# The message shape of the contract, REST and WebSocket alike.
MESSAGE_KEYS = {
    "id",
    "seq",
    "room",
    "sender",
    "body",
    "client_id",
    "created_at",
    "edited_at",
    "deleted",
    "reply_to",
    "attachments",
    "status",
}


def create_room(owner: User, *, kind: str = "public", name: str = "general", members=(), topic: str = "") -> Room:
    room = room_services.room_create(creator=owner, name=name, kind=kind, topic=topic)
    for user in members:
        room_services.member_add(actor=owner, room_id=room.pk, user_id=user.pk)
    return room


def add_members(room: Room, count: int, *, prefix: str) -> list[User]:
    """Many members at once, without the services: for sizing rooms, not for behaviour."""
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password="!") for i in range(count)]
    )
    Membership.objects.bulk_create([Membership(room=room, user=user) for user in users])
    return users


def send(sender: User, room: Room, body: str = "hello", **fields) -> Message:
    return message_services.message_send(sender=sender, room_id=room.pk, body=body, **fields).message


def make_moderator(user: User) -> User:
    roles.ensure_moderators_group()
    return account_services.user_set_moderator(user=user, is_moderator=True)


# The permission matrix: who each relation is, relative to the scene's three rooms.
RELATIONS = ["member", "owner", "outsider", "removed", "moderator"]
KINDS = ["public", "private", "direct"]


def build_scene() -> SimpleNamespace:
    """A public, a private and a direct room, with one message from `member` in each.

    `owner` owns the public and private rooms and is a plain participant of the direct one;
    `other` is a plain member everywhere; `removed` was removed from both group rooms;
    `inactive` is a banned member; `moderator` is a site moderator outside every room;
    `newcomer` belongs nowhere (the user that managers add).
    """
    s = SimpleNamespace()
    for name in ["owner", "member", "other", "outsider", "removed", "inactive", "moderator", "newcomer"]:
        setattr(s, name, create_user(name))
    make_moderator(s.moderator)
    s.rooms = {}
    for kind in ["public", "private"]:
        room = create_room(s.owner, kind=kind, name=kind, members=[s.member, s.other, s.removed, s.inactive])
        room_services.member_remove(actor=s.owner, room_id=room.pk, user_id=s.removed.pk)
        s.rooms[kind] = room
    s.rooms["direct"], _ = room_services.direct_get_or_create(
        creator=s.member, user_ids=[s.owner.pk, s.other.pk, s.inactive.pk]
    )
    s.messages = {kind: send(s.member, room, f"hello {kind}") for kind, room in s.rooms.items()}
    account_services.user_set_active(user=s.inactive, is_active=False)
    return s


def snapshot() -> tuple:
    """Everything a refused call must leave as it was."""
    return (
        list(Room.objects.order_by("pk").values_list("pk", "name", "topic", "last_seq")),
        list(Membership.objects.order_by("pk").values_list("room_id", "user_id", "role")),
        list(Message.objects.order_by("pk").values_list("pk", "body", "deleted")),
    )


ERROR_CODES = {400: "invalid", 401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


def parse_row(row: str) -> dict[str, int]:
    """'200 200 404 404 200' -> {relation: status} in RELATIONS order."""
    return dict(zip(RELATIONS, (int(code) for code in row.split()), strict=True))


def matrix_cases(expected: dict[str, tuple[str, str, str]]) -> list[tuple[str, str, str, int]]:
    """(door, kind, relation, status) for every cell of a door -> (public, private, direct) table."""
    return [
        (door, kind, relation, status)
        for door, rows in expected.items()
        for kind, row in zip(KINDS, rows, strict=True)
        for relation, status in parse_row(row).items()
    ]


def assert_outcome(response, status: int, before: tuple) -> None:
    assert response.status_code == status, response.content
    if status >= 400:
        assert response.json()["code"] == ERROR_CODES[status]
        assert snapshot() == before, "a refused call changed something"


def record_published(monkeypatch) -> list[tuple[str, dict]]:
    """Patches the hub's publish; returns the list every (topic, event) lands in, in order."""
    sent: list[tuple[str, dict]] = []
    lock = threading.Lock()  # senders may be threads

    def record(topics, event):
        with lock:
            sent.extend((topic, event) for topic in topics)

    monkeypatch.setattr("chatproject.realtime._publish_from_any_thread", record)
    return sent


def frames(published, type_: str | None = None) -> list[tuple[str, dict]]:
    """(group, parsed frame) for each published event that carries a frame, optionally of one type."""
    result = []
    for group, event in published:
        orjson.dumps(event)  # the hub must be able to carry the event between processes
        if "text" in event:
            frame = json.loads(event["text"])
            if type_ is None or frame["type"] == type_:
                result.append((group, frame))
    return result


def run_threads(count: int, target) -> list:
    """Runs target(i) in `count` threads released together; returns the results, re-raises the first error."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection; give it back

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results
