"""The access matrix, REST, web pages and admin: every door agrees on who may see and do what.

One world (testsupport/access.py): a public, a private and a direct room, each with a
message from `member` carrying a file; a mention; a removed member, a banned member, a
site moderator and an outsider. Each cell, (door, room kind, actor) -> outcome, is its
own test. Outcomes are HTTP statuses, or for doors that always answer 200 what the
answer holds (`hit`/`miss`). Beyond the status every cell checks that a refusal changed
nothing and has the contract's error shape, and that no answer, allowed or refused,
contains a word the actor may not read (`World.secrets`).

The world is built once per module inside a transaction that is rolled back at the end;
each test runs in a savepoint inside it (pytest-django's `db`), so cells that change
something (a delete, a join) leave the next cell the same world. The WebSocket door is
in test_access_matrix_ws.py.

Columns, left to right: anonymous, outsider, member, removed, inactive (banned),
moderator, owner. In the direct conversation `owner` is a plain participant.
"""

import pytest
from django.db import transaction
from django.test import Client, override_settings

from accounts.tests.factories import ApiClient
from notifications.models import Notification
from testsupport.access import ACTORS, KINDS, actor, build_world, cell_id, cells
from testsupport.factories import ERROR_CODES, snapshot

ROOMS = "/api/v1/rooms/"
MESSAGES = "/api/v1/messages/"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    storage = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path_factory.mktemp("media")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storage, THROTTLE_DISABLED=True), django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def w(world, db):
    return world


def forbidden_words(w, name: str) -> list[str]:
    """What this actor may not read anywhere: the world's secrets but those of rooms they see."""
    if name == "member":
        return []
    if name in ("owner", "moderator"):  # they see every room's history; nobody sees another's unused upload
        return ["draft-unsent"]
    return w.secrets


def assert_no_leak(w, name: str, response) -> None:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    leaked = [word for word in forbidden_words(w, name) if word in text]
    assert not leaked, f"{name} was shown {leaked}"


# --- REST --------------------------------------------------------------------------------


def room_url(w, kind: str) -> str:
    return f"{ROOMS}{w.rooms[kind].pk}/"


def search(api, w, kind, *, scoped: bool):
    params = {"q": "zebra"} | ({"room": w.rooms[kind].pk} if scoped else {})
    return api.get("/api/v1/search/messages/", params)


REST = {
    "room.get": lambda api, w, kind: api.get(room_url(w, kind)),
    "room.patch": lambda api, w, kind: api.patch(room_url(w, kind), {"topic": "new"}, format="json"),
    "room.delete": lambda api, w, kind: api.delete(room_url(w, kind)),
    "members.list": lambda api, w, kind: api.get(f"{room_url(w, kind)}members/"),
    "members.add": lambda api, w, kind: api.post(
        f"{room_url(w, kind)}members/", {"user_id": w.newcomer.pk}, format="json"
    ),
    "members.remove": lambda api, w, kind: api.delete(f"{room_url(w, kind)}members/{w.other.pk}/"),
    "messages.list": lambda api, w, kind: api.get(f"{room_url(w, kind)}messages/"),
    "messages.around": lambda api, w, kind: api.get(f"{room_url(w, kind)}messages/", {"around": 1}),
    "messages.post": lambda api, w, kind: api.post(f"{room_url(w, kind)}messages/", {"body": "hi"}, format="json"),
    "message.patch": lambda api, w, kind: api.patch(
        f"{MESSAGES}{w.messages[kind].pk}/", {"body": "edited"}, format="json"
    ),
    "message.delete": lambda api, w, kind: api.delete(f"{MESSAGES}{w.messages[kind].pk}/"),
    "receipts": lambda api, w, kind: api.get(f"{MESSAGES}{w.messages[kind].pk}/receipts/"),
    "marker.read": lambda api, w, kind: api.post(f"{room_url(w, kind)}read/", {"up_to": 1}, format="json"),
    "marker.delivered": lambda api, w, kind: api.post(f"{room_url(w, kind)}delivered/", {"up_to": 1}, format="json"),
    "search.room": lambda api, w, kind: search(api, w, kind, scoped=True),
    "search.all": lambda api, w, kind: search(api, w, kind, scoped=False),
    "attachment.download": lambda api, w, kind: api.get(w.files[kind]["url"]),
}

# Receipts (who read what, and when) are for the room's members and moderators: an outsider
# of a public room may read its history, not its members' reading. Attachments: the contract
# gives the bytes to the uploader and the room's members only, so a moderator (who may read
# every room's history) and a visitor of a public room get 404 for them too.
REST_EXPECTED = {
    #                       public                         private                        direct
    "room.get": ("401 200 200 200 401 200 200", "401 404 200 404 401 200 200", "401 404 200 404 401 200 200"),
    "room.patch": ("401 403 403 403 401 200 200", "401 404 403 404 401 200 200", "401 404 403 404 401 403 403"),
    # A moderator may delete a direct conversation (abuse); its participants may not.
    "room.delete": ("401 403 403 403 401 204 204", "401 404 403 404 401 204 204", "401 404 403 404 401 204 403"),
    "members.list": ("401 200 200 200 401 200 200", "401 404 200 404 401 200 200", "401 404 200 404 401 200 200"),
    "members.add": ("401 403 403 403 401 201 201", "401 404 403 404 401 201 201", "401 404 403 404 401 403 403"),
    "members.remove": ("401 403 403 403 401 204 204", "401 404 403 404 401 204 204", "401 404 403 404 401 403 403"),
    "messages.list": ("401 200 200 200 401 200 200", "401 404 200 404 401 200 200", "401 404 200 404 401 200 200"),
    "messages.around": ("401 200 200 200 401 200 200", "401 404 200 404 401 200 200", "401 404 200 404 401 200 200"),
    "messages.post": ("401 403 201 403 401 403 201", "401 404 201 404 401 403 201", "401 404 201 404 401 403 201"),
    "message.patch": ("401 403 200 403 401 403 403", "401 404 200 404 401 403 403", "401 404 200 404 401 403 403"),
    "message.delete": ("401 403 204 403 401 204 204", "401 404 204 404 401 204 204", "401 404 204 404 401 204 403"),
    "receipts": ("401 403 200 403 401 200 200", "401 404 200 404 401 200 200", "401 404 200 404 401 200 200"),
    "marker.read": ("401 403 200 403 401 403 200", "401 404 200 404 401 403 200", "401 404 200 404 401 403 200"),
    "marker.delivered": ("401 403 200 403 401 403 200", "401 404 200 404 401 403 200", "401 404 200 404 401 403 200"),
    # Search reads only the caller's rooms: for anyone else a room's messages do not exist.
    "search.room": (
        "401 miss hit miss 401 miss hit",
        "401 miss hit miss 401 miss hit",
        "401 miss hit miss 401 miss hit",
    ),
    "search.all": (
        "401 miss hit miss 401 miss hit",
        "401 miss hit miss 401 miss hit",
        "401 miss hit miss 401 miss hit",
    ),
    "attachment.download": (
        "401 404 200 404 401 404 200",
        "401 404 200 404 401 404 200",
        "401 404 200 404 401 404 200",
    ),
}


def check_rest(w, name: str, response, outcome: str, before) -> None:
    assert_no_leak(w, name, response)
    if outcome in ("hit", "miss"):
        assert response.status_code == 200, response.content
        return
    status = int(outcome)
    assert response.status_code == status, response.content
    if status >= 400:
        assert response.json()["code"] == ERROR_CODES[status]
        assert snapshot() == before, "a refused call changed something"


@pytest.mark.parametrize("door,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(REST_EXPECTED)])
def test_rest(w, door, kind, name, outcome):
    before = snapshot()
    response = REST[door](ApiClient().as_user(actor(w, name)), w, kind)
    check_rest(w, name, response, outcome, before)
    if outcome in ("hit", "miss"):
        found = {r["message"]["id"] for r in response.json()["results"]}
        assert (w.messages[kind].pk in found) == (outcome == "hit")
    elif door.startswith("messages.") and response.status_code == 200:
        assert w.messages[kind].pk in {m["id"] for m in response.json()["results"]}
    elif door == "receipts" and response.status_code == 200:
        assert w.member.pk not in {r["user"]["id"] for r in response.json()}  # the sender's own is not listed


# Doors that are not about one room. The single column of each row is "any".
def read_mention(api, w):
    return api.post("/api/v1/notifications/read/", {"ids": [member_mention(w).pk]}, format="json")


def member_mention(w) -> Notification:
    return Notification.objects.get(recipient=w.member, message=w.mention)


def upload(api, w):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from testsupport.access import PDF

    return api.post("/api/v1/attachments/", {"file": SimpleUploadedFile("x.pdf", PDF)}, format="multipart")


USER_DOORS = {
    "notifications.list": lambda api, w: api.get("/api/v1/notifications/"),
    "notifications.read_theirs": read_mention,
    "notifications.read_all": lambda api, w: api.post("/api/v1/notifications/read/", {"all": True}, format="json"),
    "presence": lambda api, w: api.get("/api/v1/presence/", {"users": f"{w.member.pk},{w.inactive.pk}"}),
    "rooms.mine": lambda api, w: api.get(ROOMS),
    "rooms.public": lambda api, w: api.get(f"{ROOMS}public/"),
    "users": lambda api, w: api.get("/api/v1/users/"),
    "me": lambda api, w: api.get("/api/v1/me/"),
    "upload": upload,
    "attachment.unused": lambda api, w: api.get(w.unused["url"]),
}

USER_EXPECTED = {
    "notifications.list": ("401 200 200 200 401 200 200",),
    "notifications.read_theirs": ("401 200 200 200 401 200 200",),
    "notifications.read_all": ("401 200 200 200 401 200 200",),
    "presence": ("401 200 200 200 401 200 200",),
    "rooms.mine": ("401 200 200 200 401 200 200",),
    "rooms.public": ("401 200 200 200 401 200 200",),
    "users": ("401 200 200 200 401 200 200",),
    "me": ("401 200 200 200 401 200 200",),
    "upload": ("401 201 201 201 401 201 201",),
    "attachment.unused": ("401 404 200 404 401 404 404",),
}

# The rooms each actor belongs to now: `rooms/`, `hello` and search see exactly these.
ROOMS_OF = {"outsider": [], "member": KINDS, "removed": [], "moderator": [], "owner": KINDS}


@pytest.mark.parametrize(
    "door,kind,name,outcome",
    [pytest.param(*c, id=cell_id(*c)) for c in cells(USER_EXPECTED, kinds=("any",))],
)
def test_user_doors(w, door, kind, name, outcome):
    before = snapshot()
    mention = member_mention(w)
    response = USER_DOORS[door](ApiClient().as_user(actor(w, name)), w)
    check_rest(w, name, response, outcome, before)
    if response.status_code >= 400 or door == "attachment.unused":
        return
    user = actor(w, name)
    data = response.json()
    if door == "notifications.list":
        mine = set(Notification.objects.filter(recipient=user).values_list("pk", flat=True))
        assert {n["id"] for n in data["results"]} == mine, "someone else's notifications were listed"
        if name == "removed":  # mentioned while a member: the notification stays, the private words do not
            [shown] = [n for n in data["results"] if n["message"] == w.mention.pk]
            assert shown["snippet"] == ""
    if door.startswith("notifications.read"):
        mention.refresh_from_db()
        assert (mention.read_at is not None) == (name == "member"), "someone else's notification was marked read"
        assert data["updated"] == Notification.objects.filter(recipient=user, read_at__isnull=False).count()
    if door == "rooms.mine":
        assert sorted(r["id"] for r in data) == sorted(w.rooms[k].pk for k in ROOMS_OF[name])
    if door == "rooms.public":
        assert {r["kind"] for r in data} <= {"public"}
    if door == "users":
        assert w.inactive.pk not in {u["id"] for u in data}


# --- web pages ---------------------------------------------------------------------------


def session(w, name: str) -> Client:
    client = Client()
    user = actor(w, name)
    if user is not None:
        # For `inactive` too: a session made before the ban no longer counts (Django's
        # get_user checks is_active on every request).
        client.force_login(user)
    return client


WEB = {
    "page.room": lambda c, w, kind: c.get(f"/rooms/{w.rooms[kind].pk}/"),
    "page.room_around": lambda c, w, kind: c.get(f"/rooms/{w.rooms[kind].pk}/", {"around": 1}),
    "page.members": lambda c, w, kind: c.get(f"/rooms/{w.rooms[kind].pk}/members/"),
    "page.members_add": lambda c, w, kind: c.post(f"/rooms/{w.rooms[kind].pk}/members/", {"user_id": w.newcomer.pk}),
    "page.join": lambda c, w, kind: c.post(f"/rooms/{w.rooms[kind].pk}/join/"),
    "page.leave": lambda c, w, kind: c.post(f"/rooms/{w.rooms[kind].pk}/leave/"),
    "download.cookie": lambda c, w, kind: c.get(w.files[kind]["url"]),
}

# `login`: redirected to the login page; `room`, `members`, `browse`, `home`: redirected
# there (a refusal of a visible room is a flash message on the page it came from).
WEB_EXPECTED = {
    "page.room": (
        "login 200 200 200 login 200 200",
        "login 404 200 404 login 200 200",
        "login 404 200 404 login 200 200",
    ),
    "page.room_around": (
        "login 200 200 200 login 200 200",
        "login 404 200 404 login 200 200",
        "login 404 200 404 login 200 200",
    ),
    "page.members": (
        "login 200 200 200 login 200 200",
        "login 404 200 404 login 200 200",
        "login 404 200 404 login 200 200",
    ),
    "page.members_add": (
        "login members members members login members members",
        "login 404 members 404 login members members",
        "login 404 members 404 login members members",
    ),
    "page.join": (
        "login room room room login room room",
        "login 404 room 404 login browse room",
        "login 404 room 404 login browse room",
    ),
    # The last owner may not leave: the flash says so on the room's page.
    "page.leave": (
        "login room home room login room room",
        "login 404 home 404 login room room",
        "login 404 room 404 login room room",
    ),
    "download.cookie": ("401 404 200 404 401 404 200", "401 404 200 404 401 404 200", "401 404 200 404 401 404 200"),
}

REDIRECTS = {
    "login": "/accounts/login/",
    "room": "/rooms/{room}/",
    "members": "/rooms/{room}/members/",
    "browse": "/rooms/browse/",
    "home": "/",
}


def check_redirect(response, outcome: str, room_id: int, *, login: str = REDIRECTS["login"]) -> None:
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    if outcome == "login":
        assert location.startswith(login), location
    else:
        assert location == REDIRECTS[outcome].format(room=room_id), location


@pytest.mark.parametrize("door,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(WEB_EXPECTED)])
def test_web(w, door, kind, name, outcome):
    before = snapshot()
    response = WEB[door](session(w, name), w, kind)
    assert_no_leak(w, name, response)
    if outcome.isdigit():
        assert response.status_code == int(outcome), response.content[:300]
    else:
        check_redirect(response, outcome, w.rooms[kind].pk)
    if outcome in ("login", "404") or (door in ("page.join", "page.members_add") and outcome == "browse"):
        assert snapshot() == before, "a refused call changed something"
    if door == "page.room" and outcome == "200":
        assert f"hello {kind} zebra" in response.content.decode()


PAGES = {
    "page.home": "/",
    "page.browse": "/rooms/browse/",
    "page.people": "/people/",
    "page.settings": "/accounts/settings/",
    "page.new_room": "/rooms/new/",
}
PAGES_EXPECTED = {door: ("login 200 200 200 login 200 200",) for door in PAGES}


@pytest.mark.parametrize(
    "door,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(PAGES_EXPECTED, kinds=("any",))]
)
def test_pages(w, door, kind, name, outcome):
    response = session(w, name).get(PAGES[door])
    assert_no_leak(w, name, response)
    if outcome == "login":
        check_redirect(response, outcome, 0)
    else:
        assert response.status_code == 200
    if door == "page.home" and outcome == "200":  # the room list shows exactly the actor's rooms
        text = response.content.decode()
        for kind_ in ["public", "private"]:
            shown = f'href="/rooms/{w.rooms[kind_].pk}/"' in text
            assert shown == (kind_ in ROOMS_OF[name]), kind_


# --- admin -------------------------------------------------------------------------------
# Only moderators (and superusers) get in; what a moderator may change is pinned in the
# apps' admin tests (accounts/tests/test_admin.py: no escalation, no superuser edits).


def admin_pages(w) -> dict[str, str]:
    return {
        "admin.index": "/admin/",
        "admin.messages": "/admin/messaging/message/",
        "admin.private_message": f"/admin/messaging/message/{w.messages['private'].pk}/change/",
        "admin.rooms": "/admin/rooms/room/",
        "admin.users": "/admin/accounts/user/",
        "admin.moderator_self": f"/admin/accounts/user/{w.moderator.pk}/change/",
        "admin.auditlog": "/admin/accounts/auditlog/",
        "admin.notifications": "/admin/notifications/notification/",
        "admin.groups": "/admin/auth/group/",
        "admin.group_add": "/admin/auth/group/add/",
    }


ADMIN_EXPECTED = {
    door: (f"login login login login login {status} login",)
    for door, status in {
        "admin.index": 200,
        "admin.messages": 200,
        "admin.private_message": 200,
        "admin.rooms": 200,
        "admin.users": 200,
        "admin.moderator_self": 200,
        "admin.auditlog": 200,
        "admin.notifications": 200,
        # The moderators group is a superuser's to change: a moderator cannot widen it.
        "admin.groups": 403,
        "admin.group_add": 403,
    }.items()
}


@pytest.mark.parametrize(
    "door,kind,name,outcome", [pytest.param(*c, id=cell_id(*c)) for c in cells(ADMIN_EXPECTED, kinds=("any",))]
)
def test_admin(w, door, kind, name, outcome):
    response = session(w, name).get(admin_pages(w)[door])
    if outcome == "login":
        check_redirect(response, outcome, 0, login="/admin/login/")
    else:
        assert response.status_code == int(outcome)


def test_a_moderator_posting_privileges_for_themselves_changes_nothing(w):
    client = session(w, "moderator")
    url = admin_pages(w)["admin.moderator_self"]
    form = {"username": "moderator", "email": "moderator@example.com", "is_superuser": "on", "is_staff": "on"}
    client.post(url, form)
    w.moderator.refresh_from_db()
    assert not w.moderator.is_superuser
    assert client.post("/admin/auth/group/add/", {"name": "root"}).status_code == 403


def test_the_matrix_covers_every_actor():
    for table in (REST_EXPECTED, USER_EXPECTED, WEB_EXPECTED, PAGES_EXPECTED, ADMIN_EXPECTED):
        for rows in table.values():
            assert all(len(row.split()) == len(ACTORS) for row in rows)
