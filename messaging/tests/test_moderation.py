"""Accountable moderation: every act is in the audit log; rooms keep an owner; removed members are outsiders."""

import pytest
from channels.db import database_sync_to_async as db

from accounts import services as account_services
from accounts.models import AuditLog
from chatproject.errors import Invalid
from messaging import services as message_services
from messaging.models import Message
from rooms import services
from rooms.models import Membership
from testsupport.factories import create_room, make_moderator, snapshot
from testsupport.factories import send as send_message
from testsupport.wsclient import connect_as, receive_type, send


def entries(kind: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(kind=kind).order_by("id"))


@pytest.mark.django_db
class TestAuditTrail:
    def test_member_removal_and_role_changes_are_recorded_with_reason(self, make_user):
        owner, bob = make_user("owner"), make_user("bob")
        room = create_room(owner, name="team", members=[bob])
        services.member_set_role(actor=owner, room_id=room.pk, user_id=bob.pk, role="admin", reason="helps out")
        services.member_set_role(actor=owner, room_id=room.pk, user_id=bob.pk, role="admin")  # no change, no entry
        services.member_remove(actor=owner, room_id=room.pk, user_id=bob.pk, reason="left the team")
        [role] = entries("role_changed")
        assert (role.actor, role.target_user, role.room_id, role.reason) == (owner, bob, room.pk, "helps out")
        assert "member -> admin" in role.summary
        [removed] = entries("member_removed")
        assert (removed.actor, removed.target_user, removed.room_id) == (owner, bob, room.pk)
        assert removed.reason == "left the team"

    def test_leaving_is_not_moderation(self, make_user):
        owner, bob = make_user("owner"), make_user("bob")
        room = create_room(owner, members=[bob])
        services.room_leave(user=bob, room_id=room.pk)
        assert not AuditLog.objects.exists()

    def test_room_deletion_is_recorded_and_the_entry_outlives_the_room(self, make_user):
        owner = make_user("owner")
        moderator = make_moderator(make_user("mod"))
        room = create_room(owner, name="spam-room")
        room_id = room.pk
        services.room_delete(actor=moderator, room_id=room_id, reason="spam")
        [deleted] = entries("room_deleted")
        assert (deleted.actor, deleted.room_id, deleted.summary, deleted.reason) == (
            moderator,
            room_id,
            "spam-room",
            "spam",
        )

    def test_message_deleted_by_someone_else_is_recorded_by_its_author_not(self, make_user):
        owner, bob = make_user("owner"), make_user("bob")
        room = create_room(owner, members=[bob])
        own, other = send_message(bob, room, "oops"), send_message(bob, room, "rude words")
        message_services.message_delete(actor=bob, message_id=own.pk)
        assert not entries("message_deleted")
        message_services.message_delete(actor=owner, message_id=other.pk, reason="rude")
        [deleted] = entries("message_deleted")
        assert (deleted.actor, deleted.target_user, deleted.room_id, deleted.message_id, deleted.reason) == (
            owner,
            bob,
            room.pk,
            other.pk,
            "rude",
        )

    def test_bans_and_roles_are_recorded(self, make_user):
        root = make_user("root", is_superuser=True, is_staff=True)
        moderator = make_moderator(make_user("mod"))
        bob = make_user("bob")
        account_services.user_set_active(actor=moderator, user=bob, is_active=False, reason="spam")
        account_services.user_set_active(actor=moderator, user=bob, is_active=True, reason="appeal accepted")
        account_services.user_set_moderator(actor=root, user=bob, is_moderator=True)
        account_services.user_set_moderator(actor=root, user=bob, is_moderator=False)
        kinds = list(AuditLog.objects.filter(target_user=bob).order_by("id").values_list("kind", "actor__username"))
        assert kinds == [
            ("ban", "mod"),
            ("unban", "mod"),
            ("moderator_granted", "root"),
            ("moderator_revoked", "root"),
        ]

    def test_a_refused_act_records_nothing(self, make_user):
        owner, bob, carol = make_user("owner"), make_user("bob"), make_user("carol")
        room = create_room(owner, members=[bob, carol])
        with pytest.raises(Exception):  # noqa: B017  (any refusal)
            services.member_remove(actor=bob, room_id=room.pk, user_id=carol.pk)
        assert not AuditLog.objects.exists()


@pytest.mark.django_db
class TestRoomsKeepAnOwner:
    def test_moderator_cannot_remove_or_demote_the_last_owner(self, make_user):
        owner, bob = make_user("owner"), make_user("bob")
        moderator = make_moderator(make_user("mod"))
        room = create_room(owner, members=[bob])
        before = snapshot()
        with pytest.raises(Invalid, match="needs an owner"):
            services.member_remove(actor=moderator, room_id=room.pk, user_id=owner.pk)
        with pytest.raises(Invalid, match="needs an owner"):
            services.member_set_role(actor=moderator, room_id=room.pk, user_id=owner.pk, role="member")
        with pytest.raises(Invalid, match="last owner"):
            services.room_leave(user=owner, room_id=room.pk)
        assert snapshot() == before and not AuditLog.objects.exclude(kind="moderator_granted").exists()
        # Hand ownership on first, then it works.
        services.member_set_role(actor=moderator, room_id=room.pk, user_id=bob.pk, role="owner")
        services.member_remove(actor=moderator, room_id=room.pk, user_id=owner.pk)
        assert list(Membership.objects.filter(room=room).values_list("user__username", "role")) == [("bob", "owner")]

    def test_the_last_owner_alone_cannot_be_removed_either(self, make_user):
        owner = make_user("owner")
        moderator = make_moderator(make_user("mod"))
        room = create_room(owner)
        with pytest.raises(Invalid, match="needs an owner"):
            services.member_remove(actor=moderator, room_id=room.pk, user_id=owner.pk)

    def test_refused_over_rest_with_a_clear_error(self, make_user, api):
        owner, bob = make_user("owner"), make_user("bob")
        moderator = make_moderator(make_user("mod"))
        room = create_room(owner, members=[bob])
        response = api.as_user(moderator).delete(f"/api/v1/rooms/{room.pk}/members/{owner.pk}/")
        assert response.status_code == 400
        assert response.json() == {"detail": "A room needs an owner: make someone else owner first.", "code": "invalid"}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["private", "public"])
def test_removed_member_resending_an_old_client_id_is_an_outsider(make_user, api, kind):
    owner, bob, outsider = make_user("owner"), make_user("bob"), make_user("outsider")
    room = create_room(owner, kind=kind, members=[bob])
    old = send_message(bob, room, "before removal", client_id="c-1")
    services.member_remove(actor=owner, room_id=room.pk, user_id=bob.pk)
    url = f"/api/v1/rooms/{room.pk}/messages/"
    resend = api.as_user(bob).post(url, {"body": "before removal", "client_id": "c-1"}, format="json")
    stranger = api.as_user(outsider).post(url, {"body": "before removal", "client_id": "c-1"}, format="json")
    assert (resend.status_code, resend.json()["code"]) == (stranger.status_code, stranger.json()["code"])
    assert resend.json()["code"] == ("not_found" if kind == "private" else "permission_denied")
    assert "before removal" not in resend.content.decode() and str(old.pk) not in resend.content.decode()
    assert Message.objects.filter(room=room).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_removed_member_resending_over_the_socket_gets_not_found(make_user):
    owner, bob = await db(make_user)("owner"), await db(make_user)("bob")
    room = await db(create_room)(owner, kind="private", members=[bob])
    await db(send_message)(bob, room, "secret plans", client_id="c-9")
    await db(services.member_remove)(actor=owner, room_id=room.pk, user_id=bob.pk)
    comm, _ = await connect_as(bob)
    await send(comm, {"type": "message.send", "room": room.pk, "body": "secret plans", "client_id": "c-9"})
    error = await receive_type(comm, "error")
    assert (error["code"], error["ref"]) == ("not_found", "c-9")
    assert "secret plans" not in str(error)
    await comm.disconnect()
