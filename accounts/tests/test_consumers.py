import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts import services
from accounts.tests.factories import PASSWORD, access_token
from testsupport.wsclient import ORIGIN, bearer, communicator, connect_as, receive_type, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def closed_with(comm, code: int, timeout: float = 3) -> bool:
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code") == code


@database_sync_to_async
def session_cookie(username: str) -> tuple[bytes, bytes]:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_bearer_header_gets_hello_and_pong(make_user):
    user = await database_sync_to_async(make_user)("alice", display_name="Alice")
    comm, hello = await connect_as(user)
    assert hello["user"] == {"id": user.pk, "username": "alice", "display_name": "Alice"}
    assert hello["rooms"] == []
    await send(comm, {"type": "ping"})
    assert (await comm.receive_json_from()) == {"type": "pong"}
    await comm.disconnect()


async def test_session_cookie_with_our_origin(make_user):
    await database_sync_to_async(make_user)("bob")
    comm = communicator(ORIGIN, await session_cookie("bob"))
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


async def test_cookie_without_origin_is_not_enough(make_user):
    await database_sync_to_async(make_user)("carl")
    comm = communicator(await session_cookie("carl"))
    connected, _ = await comm.connect()
    assert connected
    await send(comm, {"type": "ping"})
    assert await closed_with(comm, 4401)


async def test_first_frame_token(make_user):
    user = await database_sync_to_async(make_user)("dora")
    comm = communicator()
    connected, _ = await comm.connect()
    assert connected
    await send(comm, {"type": "auth", "token": await database_sync_to_async(access_token)(user)})
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


@pytest.mark.parametrize("token", ["garbage", "", None, 12])
async def test_bad_first_frame_token_closes_4401(token):
    comm = communicator()
    await comm.connect()
    await send(comm, {"type": "auth", "token": token})
    assert await closed_with(comm, 4401)


async def test_bad_bearer_header_closes_4401():
    comm = communicator((b"authorization", b"Bearer not.a.jwt"))
    connected, _ = await comm.connect()
    assert connected
    assert await closed_with(comm, 4401)


async def test_no_credential_closes_4401_after_timeout(settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    comm = communicator(ORIGIN)
    connected, _ = await comm.connect()
    assert connected
    assert await closed_with(comm, 4401)


async def test_other_frames_before_auth_close_4401():
    comm = communicator()
    await comm.connect()
    await send(comm, {"type": "ping"})
    assert await closed_with(comm, 4401)


async def test_foreign_origin_refused_at_handshake(make_user):
    user = await database_sync_to_async(make_user)("eric")
    comm = communicator((b"origin", b"https://evil.example"), bearer(user))
    connected, code = await comm.connect()
    assert not connected
    assert code in (403, None, 1000)


async def test_inactive_user_refused_by_every_way(make_user):
    user = await database_sync_to_async(make_user)("gone")
    token = await database_sync_to_async(access_token)(user)
    cookie = await session_cookie("gone")
    user.is_active = False
    await database_sync_to_async(user.save)()
    header = communicator((b"authorization", f"Bearer {token}".encode()))
    await header.connect()
    assert await closed_with(header, 4401)
    frame = communicator()
    await frame.connect()
    await send(frame, {"type": "auth", "token": token})
    assert await closed_with(frame, 4401)
    by_cookie = communicator(ORIGIN, cookie)
    await by_cookie.connect()
    await send(by_cookie, {"type": "ping"})
    assert await closed_with(by_cookie, 4401)


async def test_ban_closes_open_connections(make_user):
    user = await database_sync_to_async(make_user)("mallory")
    comm, _ = await connect_as(user)
    await database_sync_to_async(services.user_set_active)(user=user, is_active=False)
    assert await closed_with(comm, 4403)


async def test_bad_frames_get_error_frames_and_the_socket_stays(make_user):
    user = await database_sync_to_async(make_user)("fred")
    comm, _ = await connect_as(user)
    await comm.send_to(text_data="{not json")
    assert (await receive_type(comm, "error"))["code"] == "invalid"
    await comm.send_to(text_data="[1, 2]")
    assert (await receive_type(comm, "error"))["code"] == "invalid"
    await send(comm, {"type": "no.such.thing", "client_id": "c1"})
    error = await receive_type(comm, "error")
    assert (error["code"], error["ref"]) == ("invalid", "c1")
    await send(comm, {"type": "ping"})
    assert (await receive_type(comm, "pong"))["type"] == "pong"
    await comm.disconnect()


async def test_oversized_frame_closes_1009(make_user):
    user = await database_sync_to_async(make_user)("gus")
    comm, _ = await connect_as(user)
    await comm.send_to(text_data='{"type": "ping", "pad": "' + "x" * 70_000 + '"}')
    assert await closed_with(comm, 1009)
    # The process keeps serving others.
    other, _ = await connect_as(user)
    await send(other, {"type": "ping"})
    assert (await other.receive_json_from())["type"] == "pong"
    await other.disconnect()
    await asyncio.sleep(0)
