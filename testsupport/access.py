"""The access matrix's world: one set of rooms, people and content that every door is asked about.

Built through the services, like everything in testsupport. The matrix itself
(chatproject/tests/test_access_matrix*.py) decides, per door and actor, what each of
them may see and do here.
"""

from types import SimpleNamespace

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import services as account_services
from accounts.tests.factories import create_user
from messaging import services as message_services
from rooms import services as room_services
from testsupport.factories import create_room, make_moderator, send

# Who asks, left to right in every expectation row. `owner` owns the public and private
# rooms and is a plain participant of the direct one (nobody owns a conversation);
# `removed` was a member of both group rooms until the owner removed them; `inactive`
# was a member of all three until a moderator banned them; `moderator` is a site
# moderator in no room; `outsider` is signed in and in no room.
ACTORS = ["anonymous", "outsider", "member", "removed", "inactive", "moderator", "owner"]
KINDS = ["public", "private", "direct"]

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _upload(user, name: str) -> dict:
    file = SimpleUploadedFile(name, PDF, content_type="application/pdf")
    return message_services.attachment_upload(uploader=user, file=file)


def build_world() -> SimpleNamespace:
    """Three rooms, each with a message from `member` carrying a file, and a mention.

    The words in `secrets` appear only inside the private and the direct room (bodies,
    file names): a refused answer, or anything sent to someone outside those rooms,
    must never contain them.
    """
    w = SimpleNamespace()
    for name in ["owner", "member", "other", "outsider", "removed", "inactive", "moderator", "newcomer"]:
        setattr(w, name, create_user(name))
    make_moderator(w.moderator)
    w.rooms, w.messages, w.files = {}, {}, {}
    for kind in ["public", "private"]:
        w.rooms[kind] = create_room(w.owner, kind=kind, name=kind, members=[w.member, w.other, w.removed, w.inactive])
    w.rooms["direct"], _ = room_services.direct_get_or_create(
        creator=w.member, user_ids=[w.owner.pk, w.other.pk, w.inactive.pk]
    )
    for kind, room in w.rooms.items():
        w.files[kind] = _upload(w.member, f"{kind}-plan.pdf")
        w.messages[kind] = send(w.member, room, f"hello {kind} zebra", attachments=[w.files[kind]["id"]])
    # Mentions of `member` and of `removed` while both still belong to the private room.
    w.mention = send(w.owner, w.rooms["private"], "@member @removed hello private mentions")
    for kind in ["public", "private"]:
        room_services.member_remove(actor=w.owner, room_id=w.rooms[kind].pk, user_id=w.removed.pk)
    w.unused = _upload(w.member, "draft-unsent.pdf")
    account_services.user_set_active(user=w.inactive, is_active=False)
    w.secrets = ["private zebra", "private mentions", "direct zebra", "private-plan", "direct-plan", "draft-unsent"]
    return w


def actor(w: SimpleNamespace, name: str):
    """The user behind an actor's name; None for `anonymous`."""
    return None if name == "anonymous" else getattr(w, name)


# Of the actors, only these belong to every room of the world now.
MEMBERS = ("member", "owner")


def parse_row(row: str) -> dict[str, str]:
    """'401 200 200 ...' -> {actor: outcome} in ACTORS order."""
    return dict(zip(ACTORS, row.split(), strict=True))


def cells(table: dict[str, tuple[str, ...]], *, kinds=KINDS) -> list[tuple[str, str, str, str]]:
    """(door, kind, actor, outcome) for every cell of a door -> (row per kind) table."""
    return [
        (door, kind, name, outcome)
        for door, rows in table.items()
        for kind, row in zip(kinds, rows, strict=True)
        for name, outcome in parse_row(row).items()
        if outcome != "-"
    ]


def cell_id(door: str, kind: str, name: str, outcome: str) -> str:
    return f"{door}|{kind}|{name}->{outcome}"
