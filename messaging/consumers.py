"""The one WebSocket door: `/ws/`, one connection per device for all its rooms.

It authenticates, parses frames, hands them to the frame handlers (messaging/frames.py,
which see it only as a `frames.Connection`) and maps domain errors to `error` frames.
Delivery touches no database and no channel layer: the process's hub
(`chatproject.realtime`) hands each event's ready-made text to the connections
subscribed to its topics, and a connection keeps its subscriptions current from
membership events.
"""

import asyncio
import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.authentication import identity_for_access_token
from accounts.ws import bearer_token, cookie_auth_allowed, origin_refused, session_identity
from chatproject import closecodes
from chatproject.db import db_call
from chatproject.errors import DomainError
from chatproject.metrics import WEBSOCKET_CONNECTIONS, observe_delivery
from chatproject.realtime import DROPPED, Hub, dumps, get_hub, room_topic, user_topic
from chatproject.shutdown import Drainable
from messaging import frames
from messaging.markers import MarkerCoalescer

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = closecodes.UNAUTHENTICATED
CLOSE_TOO_BIG = closecodes.TOO_BIG
_conn_numbers = itertools.count(1)
_process_tag = f"{os.getpid()}.{os.urandom(3).hex()}"


# Drainable: on SIGTERM every socket finishes its frame and is closed with 1012 (chatproject/shutdown.py).
class ChatConsumer(Drainable, AsyncWebsocketConsumer):
    """One WebSocket; implements frames.Connection for the frame handlers."""

    # No channel-layer channel per connection: the hub delivers (less memory, no
    # receive task per socket, no per-recipient serialization).
    channel_layer_alias = "__hub__"

    user = None
    user_id: int | None = None
    device_id: int | None = None  # the signed-in device (token family or web session), if known
    markers: MarkerCoalescer | None = None
    _conn_state: dict[str, Any] | None = None
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
        if origin_refused(self.scope):
            await self.close()  # before accept: the server answers the handshake with 403
            return
        await self.accept()
        token = bearer_token(self.scope)
        if token:
            await self._authenticate_token(token)
            return
        if cookie_auth_allowed(self.scope):
            identity = await db_call(session_identity)(self.scope)
            if identity is not None:
                await self._start_session(*identity)
                return
        self._auth_timer = asyncio.ensure_future(self._auth_deadline())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.markers is not None:
            self.markers.cancel()
        if self.user is None:
            return
        WEBSOCKET_CONNECTIONS.dec()
        if self.hub is not None:
            for room_id in self.rooms:
                self.hub.unsubscribe(room_topic(room_id), self)
            self.hub.unsubscribe(user_topic(self.user_id), self)
        await self.flush_markers()
        await frames.on_disconnect(self)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None and not self.closed:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _authenticate_token(self, token: Any) -> None:
        identity = None
        if isinstance(token, str) and token:
            identity = await db_call(identity_for_access_token)(token)
        if identity is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self._start_session(*identity)

    async def _start_session(self, user, device_id: int | None = None) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.user, self.user_id, self.device_id = user, user.pk, device_id
        WEBSOCKET_CONNECTIONS.inc()  # disconnect() takes it back for every connection with a user
        self.hub = await get_hub()
        self.held_events: list[dict] | None = []  # events that arrive before hello wait for it
        self.hub.subscribe(user_topic(user.pk), self)
        hello = await frames.on_authenticated(self)
        await self.send_frame(hello)
        held, self.held_events = self.held_events, None
        for event in held:
            await self.on_event(event)

    def conn_state(self, key: str, factory: Callable[[], Any]) -> Any:
        """Per-connection state a frame handler keeps (a typing limiter), made on first
        use: most connections never need it, and idle sockets should be small."""
        if self._conn_state is None:
            self._conn_state = {}
        state = self._conn_state.get(key)
        if state is None:
            state = self._conn_state[key] = factory()
        return state

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
        except Exception:
            logger.exception("frame handler failed", extra={"frame_type": str(frame.get("type"))[:50]})
            await self.send_error("internal", "The server could not handle this frame.", ref)

    # --- coalesced read/delivered markers ------------------------------------------------
    def queue_marker(self, room_id: int, up_to: int, *, read: bool) -> None:
        if self.markers is None:  # made on first use: most sockets never send a marker
            self.markers = MarkerCoalescer(self._move_marker, self._report_marker, settings.MARKER_COALESCE_SECONDS)
        self.markers.queue(room_id, up_to, read=read)

    async def flush_markers(self) -> None:
        if self.markers is not None:
            await self.markers.flush()

    async def _move_marker(self, room_id: int, up_to: int, read: bool) -> None:
        await frames.move_marker(self, room_id, up_to, read)

    async def _report_marker(self, exc: DomainError) -> None:
        if not self.closed:
            await self.send_error(exc.code, exc.detail)

    # --- sending ---------------------------------------------------------------------------
    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=dumps(frame))

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
            await self.base_send({"type": "websocket.send", "text": event["text"]})
            observe_delivery(event)
        elif kind == "room_joined":
            self.join_room(event["room"])
            await self.base_send({"type": "websocket.send", "text": event["text"]})
        elif kind == "room_left":
            self.leave_room(event["room"])
            await self.base_send({"type": "websocket.send", "text": event["text"]})
        elif kind == "disconnect":
            # A sign-out names its devices (or every device but `keep`); a ban names none.
            devices, keep = event.get("devices"), event.get("keep")
            if devices is not None and self.device_id not in devices:
                return
            if keep is not None and self.device_id == keep:
                return
            await self.close(code=event.get("code", CLOSE_UNAUTHENTICATED))
