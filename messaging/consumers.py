"""The one WebSocket door: `/ws/`, one connection per device for all its rooms.

It authenticates, parses frames, calls services and maps domain errors to `error`
frames. Delivery touches no database and no channel layer: the process's hub
(`chatproject.realtime`) hands each event's ready-made text to the connections
subscribed to its topics, and a connection keeps its subscriptions current from
membership events.
"""

import asyncio
import itertools
import logging
import os
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts import services as account_services
from accounts.ws import bearer_token, cookie_auth_allowed, origin_refused, session_user
from chatproject.db import database_unavailable, db_call
from chatproject.errors import DomainError, Unavailable
from chatproject.realtime import DROPPED, Hub, dumps, get_hub, room_topic, user_topic
from messaging import frames
from notifications.typing import TypingLimiter

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_BIG = 1009
_conn_numbers = itertools.count(1)
_process_tag = f"{os.getpid()}.{os.urandom(3).hex()}"


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per connection: the hub delivers (less memory, no
    # receive task per socket, no per-recipient serialization).
    channel_layer_alias = "__hub__"

    user = None
    user_id: int | None = None
    marker_flush: asyncio.Task | None = None
    _typing_limiter: TypingLimiter | None = None
    held_events: list[dict] | None = None
    hub: Hub | None = None
    _auth_timer: asyncio.Task | None = None

    async def dispatch(self, message: dict) -> None:
        # Channels >= 4.2 hops to a worker thread to close stale DB connections before
        # every handler. Receiving a frame needs no database until a service runs, and
        # services run through database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connection lifecycle -----------------------------------------------------------
    async def connect(self) -> None:
        self.conn_id = f"{_process_tag}.{next(_conn_numbers)}"
        self.rooms: set[int] = set()
        self.closed = False
        self.pending_markers: dict[tuple[int, bool], int] = {}
        if origin_refused(self.scope):
            await self.close()  # before accept: the server answers the handshake with 403
            return
        await self.accept()
        token = bearer_token(self.scope)
        if token:
            await self._authenticate_token(token)
            return
        if cookie_auth_allowed(self.scope):
            user = await db_call(session_user)(self.scope)
            if user is not None:
                await self._start_session(user)
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
        if self.hub is not None:
            for room_id in self.rooms:
                self.hub.unsubscribe(room_topic(room_id), self)
            self.hub.unsubscribe(user_topic(self.user_id), self)
        await frames.on_disconnect(self)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None and not self.closed:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _authenticate_token(self, token: Any) -> None:
        user = None
        if isinstance(token, str) and token:
            user = await db_call(account_services.user_for_access_token)(token)
        if user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._start_session(user)

    async def _start_session(self, user) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.user, self.user_id = user, user.pk
        self.hub = await get_hub()
        self.held_events: list[dict] | None = []  # events that arrive before hello wait for it
        self.hub.subscribe(user_topic(user.pk), self)
        hello = await frames.on_authenticated(self)
        await self.send_frame(hello)
        held, self.held_events = self.held_events, None
        for event in held:
            await self.on_event(event)

    @property
    def typing_limiter(self) -> TypingLimiter:
        # Made on first use: most connections never type, and idle sockets should be small.
        if self._typing_limiter is None:
            self._typing_limiter = TypingLimiter()
        return self._typing_limiter

    def join_room(self, room_id: int) -> None:
        if room_id not in self.rooms:
            self.rooms.add(room_id)
            self.hub.subscribe(room_topic(room_id), self)

    def leave_room(self, room_id: int) -> None:
        self.rooms.discard(room_id)
        self.hub.unsubscribe(room_topic(room_id), self)

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
        except Exception as exc:
            if database_unavailable(exc):
                # Nothing was committed, so nothing is acked: the client sends it again later.
                await self.send_error(Unavailable.code, Unavailable.default_detail, ref)
                return
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
            except Exception as exc:
                # One marker that fails (the database went away) must not cost the others of this flush.
                code = Unavailable.code if database_unavailable(exc) else "internal"
                if code == "internal":
                    logger.exception("moving a marker failed", extra={"room": room_id})
                if not self.closed:
                    await self.send_error(code, "The server could not move this marker; send it again.")

    # --- sending ---------------------------------------------------------------------------
    async def send_frame(self, frame: dict) -> None:
        await self._push(dumps(frame))

    async def _push(self, text: str) -> None:
        if self.closed:
            DROPPED.labels("connection_closed").inc()
            return
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except (OSError, RuntimeError):
            # The socket closed under us (the client went away, or we closed it) before
            # its disconnect handler ran: expected at the end of every connection, so
            # counted, not logged with a traceback per frame.
            self.closed = True
            DROPPED.labels("connection_closed").inc()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        try:
            await super().close(code=code, reason=reason)
        except (OSError, RuntimeError):
            pass  # already closed by the client: nothing left to tell it
        self.closed = True

    async def send_error(self, code: str, detail: str, ref: str | None = None) -> None:
        await self.send_frame({"type": "error", "code": code, "detail": detail, "ref": ref})

    # --- events from the hub -----------------------------------------------------------------
    async def on_event(self, event: dict) -> None:
        if self.closed:
            DROPPED.labels("connection_closed").inc()
            return
        if self.held_events is not None:
            self.held_events.append(event)
            return
        kind = event["kind"]
        if kind == "frame":
            await self._push(event["text"])
        elif kind == "room_joined":
            self.join_room(event["room"])
            await self._push(event["text"])
        elif kind == "room_left":
            self.leave_room(event["room"])
            await self._push(event["text"])
        elif kind == "disconnect":
            await self.close(code=event.get("code", CLOSE_UNAUTHENTICATED))
