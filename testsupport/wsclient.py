"""Helpers for driving `/ws/` through Channels' WebsocketCommunicator."""

import json

from channels.testing import WebsocketCommunicator

from accounts.tests.factories import access_token
from chatproject.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
# The Host a browser on that page sends: the Origin check compares against it.
HOST = (b"host", b"127.0.0.1:8000")


def bearer(user) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {access_token(user)}".encode())


def communicator(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    if not any(name == b"host" for name, _ in headers):
        headers = (HOST, *headers)
    return WebsocketCommunicator(application, "/ws/", headers=list(headers))


async def connect_as(user, *, origin: bool = False) -> tuple[WebsocketCommunicator, dict]:
    """Opens an authenticated connection and returns it with its `hello` frame."""
    headers = [bearer(user)] + ([ORIGIN] if origin else [])
    comm = communicator(*headers)
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello", hello
    return comm, hello


async def receive_type(comm: WebsocketCommunicator, frame_type: str, timeout: float = 3) -> dict:
    """Next frame of the given type, skipping others (presence, receipts…)."""
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == frame_type:
            return frame


async def no_frame_of_type(comm: WebsocketCommunicator, frame_type: str, timeout: float = 0.3) -> bool:
    """True when nothing of this type arrives within the timeout."""
    while not await comm.receive_nothing(timeout=timeout):
        frame = json.loads((await comm.receive_output())["text"])
        if frame["type"] == frame_type:
            return False
    return True


async def send(comm: WebsocketCommunicator, frame: dict) -> None:
    await comm.send_to(text_data=json.dumps(frame))
