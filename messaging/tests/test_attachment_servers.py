"""Attachments through real server processes (daphne and uvicorn): upload, send over /ws/, download, limits."""

import asyncio
import http.client
import json
import secrets
import socket
import time

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.testing import SERVERS, ServerProcess, database_url_for_tests
from conftest import needs_services
from messaging.tests.filesamples import PDF, png
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

LIMIT = 1024 * 1024


@pytest.fixture(params=SERVERS)
def server(request, tmp_path):
    needs_services(postgres=True, redis=True)
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "VAR_DIR": str(tmp_path),  # uploads in VAR_DIR/media; the same key so test tokens work
        "SECRET_KEY": settings.SECRET_KEY,
        "ATTACHMENT_MAX_BYTES": str(LIMIT),
    }
    with ServerProcess(env, server=request.param, log=tmp_path / "server.log") as process:
        yield process


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(server, method: str, path: str, user=None, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = dict(headers or {})
    if user is not None:
        headers["Authorization"] = f"Bearer {access_token(user)}"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def upload(server, user, name: str, content: bytes) -> dict:
    body, content_type = multipart(name, content)
    response, data = request(server, "POST", "/api/v1/attachments/", user, body, {"Content-Type": content_type})
    assert response.status == 201, data
    return json.loads(data)


@pytest.mark.asyncio
async def test_upload_send_over_websocket_and_download(server, make_user):
    alice, bob, carol = await db(make_user)("alice"), await db(make_user)("bob"), await db(make_user)("carol")
    room = await db(rooms.room_create)(creator=alice, name="team", kind="private")
    await db(rooms.member_add)(actor=alice, room_id=room.pk, user_id=bob.pk)
    photo = await asyncio.to_thread(upload, server, alice, "photo.png", png(4, 4))
    report = await asyncio.to_thread(upload, server, alice, "report.pdf", PDF)

    def ws(user):
        return websockets.connect(server.ws, additional_headers={"Authorization": f"Bearer {access_token(user)}"})

    async with ws(alice) as alice_ws, ws(bob) as bob_ws:
        for socket_ in (alice_ws, bob_ws):
            assert json.loads(await socket_.recv())["type"] == "hello"
        frame = {"type": "message.send", "room": room.pk, "body": "", "client_id": "f1"}
        await alice_ws.send(json.dumps({**frame, "attachments": [report["id"], photo["id"]]}))
        ack = await next_of(alice_ws, "message.ack")
        assert ack["message"]["attachments"] == [report, photo]
        new = await next_of(bob_ws, "message.new")
        assert new["message"]["attachments"] == [report, photo]
        # The same upload again: refused, nothing stored, the socket stays open.
        await alice_ws.send(json.dumps({**frame, "client_id": "f2", "attachments": [photo["id"]]}))
        error = await next_of(alice_ws, "error")
        assert (error["code"], error["ref"]) == ("invalid", "f2")

    for user, status in ((alice, 200), (bob, 200), (carol, 404)):
        response, data = await asyncio.to_thread(request, server, "GET", photo["url"], user)
        assert response.status == status
        if status == 200:
            assert data == png(4, 4)
            assert response.getheader("X-Content-Type-Options") == "nosniff"
    response, data = await asyncio.to_thread(request, server, "GET", report["url"], bob, None, {"Range": "bytes=5-9"})
    assert (response.status, data) == (206, PDF[5:10])
    assert response.getheader("Content-Range") == f"bytes 5-9/{len(PDF)}"


async def next_of(ws, frame_type: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == frame_type:
                return frame


def test_large_download_streams_whole_and_resumes(server, make_user):
    alice = make_user("alice")
    content = _zip(secrets.token_bytes(LIMIT - 4096))  # random bytes are no known type: a zip of them
    attachment = upload(server, alice, "clip.zip", content)
    response, data = request(server, "GET", attachment["url"], alice)
    assert response.status == 200 and data == content
    half = len(content) // 2
    response, data = request(server, "GET", attachment["url"], alice, None, {"Range": f"bytes={half}-"})
    assert response.status == 206 and data == content[half:]


def _zip(data: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("clip.bin", data)
    return buffer.getvalue()


def _send_until_answered(port: int, headers: bytes, total: int, *, chunked: bool) -> tuple[int, bytes, bool]:
    """Sends a body of `total` bytes until the server answers or hangs up.

    Returns (body bytes sent, the answer, whether the connection was reset).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(headers)
    sock.setblocking(False)
    sent, answer, pending, finished, reset = 0, b"", b"", False, False
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and not reset:
            try:
                answer += sock.recv(65536)
                if answer:
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                reset = True
                break
            if not pending:
                size = min(65536, total - sent)
                if size == 0:
                    if chunked and not finished:
                        pending, finished = b"0\r\n\r\n", True
                    else:
                        time.sleep(0.01)  # all sent: wait for the answer
                        continue
                else:
                    pending = f"{size:x}\r\n".encode() + b"a" * size + b"\r\n" if chunked else b"a" * size
                    sent += size
            try:
                pending = pending[sock.send(pending) :]
            except BlockingIOError:
                time.sleep(0.002)
            except (BrokenPipeError, ConnectionResetError):
                reset = True
        sock.setblocking(True)
        sock.settimeout(10)
        try:
            while not _complete(answer):
                more = sock.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        sock.close()
    return sent, answer, reset


def _complete(answer: bytes) -> bool:
    """Whether `answer` holds a whole response: headers and Content-Length bytes of body."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def _upload_headers(user, framing: bytes) -> bytes:
    return (
        b"POST /api/v1/attachments/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {access_token(user)}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=xyz\r\n"
        + framing
        + b"\r\n"
    )


def test_a_declared_length_over_the_limit_is_refused_before_the_body(server, make_user):
    """uvicorn: the 413 comes before the client sent any of the 64 MiB it announced.

    daphne receives a whole body (into a temporary file) before the application sees it,
    so there the 413 comes after the body; see docs/attachments.md.
    """
    alice = make_user("alice")
    total = 64 * LIMIT
    headers = _upload_headers(alice, f"Content-Length: {total}\r\n".encode())
    if server.server == "uvicorn":
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(headers)  # and no body at all
            answer = b""
            while chunk := sock.recv(65536):  # until the server hangs up
                answer += chunk
    else:
        total = 4 * LIMIT
        headers = _upload_headers(alice, f"Content-Length: {total}\r\n".encode())
        sent, answer, _ = _send_until_answered(server.port, headers, total, chunked=False)
        assert sent == total
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"too_large" in answer
    response, _ = request(server, "GET", "/healthz")  # and the server goes on serving
    assert response.status == 200


def test_a_chunked_body_over_the_limit_is_cut_off(server, make_user):
    """Without a declared length the server counts: uvicorn stops reading right after the limit.

    It answers 413 and hangs up; a client still sending may see the hang-up (a reset)
    before the answer, which is what every server that stops reading does (nginx too).
    """
    alice = make_user("alice")
    total = 64 * LIMIT if server.server == "uvicorn" else 4 * LIMIT
    sent, answer, reset = _send_until_answered(
        server.port, _upload_headers(alice, b"Transfer-Encoding: chunked\r\n"), total, chunked=True
    )
    assert answer.startswith(b"HTTP/1.1 413") or (reset and server.server == "uvicorn"), answer[:200]
    if server.server == "uvicorn":
        # At most the limit plus what the two sockets' buffers hold, not the 64 MiB.
        assert sent < LIMIT + 16 * 1024 * 1024, sent
    response, _ = request(server, "GET", "/healthz")
    assert response.status == 200
