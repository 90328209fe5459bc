import pytest
from conftest import needs_services
from rooms import services
from rooms.models import Membership
from rooms.tests.factories import create_room, run_threads


@pytest.mark.django_db(transaction=True)
def test_join_race(make_user):
    needs_services(postgres=True)
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice)
    results = run_threads(8, lambda i: services.room_join(user=bob, room_id=room.pk))
    assert Membership.objects.filter(user=bob).count() == 1


@pytest.mark.django_db(transaction=True)
def test_add_race(make_user):
    needs_services(postgres=True)
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, kind="private")
    results = run_threads(8, lambda i: services.member_add(actor=alice, room_id=room.pk, user_id=bob.pk))
    assert Membership.objects.filter(user=bob).count() == 1
