"""Ids past 2**63 - 1 are refused at every door before any query (SQLite cannot even bind them)."""

import pytest

from chatproject.errors import FieldErrors
from chatproject.ids import MAX_ID, IdConverter, int_param, int_value
from testsupport.factories import create_room
from testsupport.wsclient import connect_as, receive_type, send

HUGE = MAX_ID + 1


def test_the_shared_validator():
    assert int_value(MAX_ID, field="room") == MAX_ID
    assert int_param(" 42 ", field="room") == 42
    for bad in (HUGE, -1, True, 1.0, "1"):
        with pytest.raises(FieldErrors):
            int_value(bad, field="room")
    for bad in (str(HUGE), "-1", "1e3", "٣", "12345678901234567890"):
        with pytest.raises(FieldErrors):
            int_param(bad, field="room")
    with pytest.raises(ValueError):
        IdConverter().to_python(str(HUGE))


@pytest.mark.django_db
def test_rest_doors_answer_404_or_400_for_huge_ids(api, make_user):
    alice = make_user("alice")
    room = create_room(alice)
    api.as_user(alice)
    response = api.post(f"/api/v1/rooms/{HUGE}/messages/", {"body": "x"}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert api.get(f"/api/v1/rooms/{HUGE}/").status_code == 404
    assert api.get(f"/api/v1/presence/?users={HUGE}").status_code == 400
    assert api.get(f"/api/v1/rooms/{room.pk}/messages/?after={HUGE}").status_code == 400
    for path, body in [
        (f"/api/v1/rooms/{room.pk}/read/", {"up_to": HUGE}),
        (f"/api/v1/rooms/{room.pk}/messages/", {"body": "x", "reply_to": HUGE}),
        (f"/api/v1/rooms/{room.pk}/members/", {"user_id": HUGE}),
        ("/api/v1/dms/", {"user_ids": [HUGE]}),
        ("/api/v1/notifications/read/", {"ids": [HUGE]}),
    ]:
        assert api.post(path, body, format="json").status_code == 400, path


@pytest.mark.django_db(transaction=True)
async def test_frames_with_huge_ids_get_invalid_and_the_socket_serves_on(make_user):
    from channels.db import database_sync_to_async as db

    alice = await db(make_user)("alice")
    room = await db(create_room)(alice)
    ws, _ = await connect_as(alice)
    await send(ws, {"type": "message.send", "room": HUGE, "body": "x", "client_id": "a"})
    assert (await receive_type(ws, "error"))["code"] == "invalid"
    await send(ws, {"type": "read", "room": room.pk, "up_to": HUGE})
    assert (await receive_type(ws, "error"))["code"] == "invalid"
    await send(ws, {"type": "message.send", "room": room.pk, "body": "still here", "client_id": "b"})
    assert (await receive_type(ws, "message.ack"))["message"]["body"] == "still here"
    await ws.disconnect()
