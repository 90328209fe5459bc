"""The one WebSocket door: `/ws/`, one connection per device for all its rooms.

It authenticates, parses frames, calls services and maps domain errors to `error`
frames. Delivery (`chat_frame`) touches no database: what a connection must know
(its user, its rooms) it keeps, and keeps current from membership events.
"""

import asyncio
import logging
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts import services as account_services
from accounts.ws import bearer_token
from chatproject.errors import DomainError
from chatproject.realtime import dumps, room_group, user_group
from messaging import frames
from notifications.typing import TypingLimiter

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_BIG = 1009


class ChatConsumer(AsyncWebsocketConsumer):
    user = None
    rooms: set[int]
    _auth_timer: asyncio.Task | None = None

    async def dispatch(self, message: dict) -> None:
        # Channels >= 4.2 hops to a worker thread to close stale DB connections before
        # every handler. Delivery never touches the database, and the handlers that do
        # go through database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connection lifecycle -----------------------------------------------------------
    async def connect(self) -> None:
        self.rooms = set()
        self.closed = False
        self.typing_limiter = TypingLimiter()
        self.pending_markers: dict[tuple[int, bool], int] = {}
        self.marker_flush: asyncio.Task | None = None
        self.presence_seen: dict[int, str] = {}
        await self.accept()
        token = bearer_token(self.scope)
        if token:
            await self._authenticate_token(token)
            return
        cookie_user = self.scope.get("user")
        if self.scope.get("cookie_auth_allowed") and cookie_user is not None and cookie_user.is_authenticated:
            await self._start_session(cookie_user)
            return
        self._auth_timer = asyncio.ensure_future(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.marker_flush is not None:
            self.marker_flush.cancel()
        if self.user is None:
            return
        layer = self.channel_layer
        for room_id in self.rooms:
            await layer.group_discard(room_group(room_id), self.channel_name)
        await layer.group_discard(user_group(self.user.pk), self.channel_name)
        await frames.on_disconnect(self)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None and not self.closed:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _authenticate_token(self, token: Any) -> None:
        user = None
        if isinstance(token, str) and token:
            user = await database_sync_to_async(account_services.user_for_access_token)(token)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._start_session(user)

    async def _start_session(self, user) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.user = user
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        hello = await frames.on_authenticated(self)
        await self.send_frame(hello)

    # --- frames from the client ----------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        if len(raw) > settings.WS_MAX_FRAME_BYTES or (
            text_data is not None and len(text_data.encode()) > settings.WS_MAX_FRAME_BYTES
        ):
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.send_error("invalid", "Frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.send_error("invalid", "Frame must be a JSON object.")
            return
        if self.user is None:
            if frame.get("type") == "auth":
                await self._authenticate_token(frame.get("token"))
            else:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        ref = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        try:
            await frames.handle(self, frame)
        except DomainError as exc:
            await self.send_error(exc.code, exc.detail, ref)
        except Exception:
            logger.exception("frame handler failed", extra={"frame_type": str(frame.get("type"))[:50]})
            await self.send_error("internal", "The server could not handle this frame.", ref)

    # --- coalesced read/delivered markers ------------------------------------------------
    def queue_marker(self, room_id: int, up_to: int, *, read: bool) -> None:
        key = (room_id, read)
        self.pending_markers[key] = max(up_to, self.pending_markers.get(key, 0))
        if self.marker_flush is None:
            self.marker_flush = asyncio.ensure_future(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(settings.MARKER_COALESCE_SECONDS)
        self.marker_flush = None
        await self.flush_markers()

    async def flush_markers(self) -> None:
        pending, self.pending_markers = self.pending_markers, {}
        # Reads first: a read also moves delivered, which may make the delivered move moot.
        for (room_id, read), up_to in sorted(pending.items(), key=lambda item: not item[0][1]):
            try:
                await frames.move_marker(self, room_id, up_to, read)
            except DomainError as exc:
                if not self.closed:
                    await self.send_error(exc.code, exc.detail)

    # --- sending ---------------------------------------------------------------------------
    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=dumps(frame))

    async def send_error(self, code: str, detail: str, ref: str | None = None) -> None:
        await self.send_frame({"type": "error", "code": code, "detail": detail, "ref": ref})

    # --- events from the channel layer -----------------------------------------------------
    async def chat_frame(self, event: dict) -> None:
        room = event.get("room")
        if room is not None and room not in self.rooms:
            return
        if event.get("skip_channel") == self.channel_name:
            return
        if self.user is not None and event.get("skip_user") == self.user.pk:
            return
        await self.send(text_data=event["text"])

    async def chat_presence(self, event: dict) -> None:
        """A presence change reaches us through every room we share with that user: forward it once."""
        user_id = event["user"]
        if self.user is None or user_id == self.user.pk or self.presence_seen.get(user_id) == event["change"]:
            return
        if len(self.presence_seen) > 256:
            self.presence_seen.clear()
        self.presence_seen[user_id] = event["change"]
        await self.send(text_data=event["text"])

    async def chat_disconnect(self, event: dict) -> None:
        await self.close(code=event.get("code", CLOSE_UNAUTHENTICATED))

    async def chat_room_joined(self, event: dict) -> None:
        room_id = event["room"]
        if room_id not in self.rooms:
            self.rooms.add(room_id)
            await self.channel_layer.group_add(room_group(room_id), self.channel_name)
        await self.send(text_data=event["text"])

    async def chat_room_left(self, event: dict) -> None:
        room_id = event["room"]
        self.rooms.discard(room_id)
        await self.channel_layer.group_discard(room_group(room_id), self.channel_name)
        await self.send(text_data=event["text"])
