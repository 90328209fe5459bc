"""The one WebSocket door: `/ws/`, one connection per device for all its rooms.

It authenticates, parses frames, hands them to the frame handlers (messaging/frames.py,
which see it only as a `frames.Connection`) and maps domain errors to `error` frames.
An authenticated connection is a channel of the project's channel layer
(`chatproject.layers`) in its rooms' and its user's groups; the layer hands it each
event's ready-made text (`deliver`), which goes to the socket through the connection's
bounded `Outbox` (chatproject/outbox.py) without waiting for the network.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from accounts.authentication import identity_for_access_token
from accounts.ws import bearer_token, cookie_auth_allowed, origin_refused, session_identity
from chatproject import closecodes, ratelimits
from chatproject.db import database_unavailable, db_call
from chatproject.errors import DomainError, Throttled, Unavailable
from chatproject.metrics import WEBSOCKET_CONNECTIONS, observe_delivery
from chatproject.outbox import Outbox, spawn
from chatproject.realtime import DROPPED, FRAME, dumps, room_topic, user_topic
from chatproject.shutdown import Drainable
from messaging import frames
from messaging.markers import MarkerCoalescer

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = closecodes.UNAUTHENTICATED
CLOSE_TOO_BIG = closecodes.TOO_BIG


# Drainable: on SIGTERM every socket finishes its frame and is closed with 1012 (chatproject/shutdown.py).
class ChatConsumer(Drainable, AsyncWebsocketConsumer):
    """One WebSocket; implements frames.Connection for the frame handlers."""

    # Channels would start a receive task per socket on its channel; this consumer
    # asks the layer for a channel delivered to `deliver()` instead (_start_session).
    channel_layer_alias = "__direct__"
    channel_name = ""

    user = None
    user_id: int | None = None
    device_id: int | None = None  # the signed-in device (token family or web session), if known
    markers: MarkerCoalescer | None = None
    _conn_state: dict[str, Any] | None = None
    held_events: deque | None = None
    outbox: Outbox | None = None
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
        self.rooms: set[int] = set()
        self.closed = False
        if origin_refused(self.scope):
            await self.close()  # before accept: the server answers the handshake with 403
            return
        await self.accept()
        self.outbox = Outbox(self.base_send)
        await self._unless_database_down(self._authenticate_at_handshake())

    async def _authenticate_at_handshake(self) -> None:
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

    async def _unless_database_down(self, opening: Awaitable[None]) -> None:
        """Runs the part of opening a session that reads the database (credential, hello).

        With the database unreachable nobody can be authenticated: the client gets an
        `unavailable` error and close 1013 (try again later) instead of a crashed handler
        (1011 and a traceback per socket), and reconnects a moment later.
        """
        try:
            await opening
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            await self.send_error(Unavailable.code, Unavailable.default_detail)
            await self.close(code=closecodes.TRY_AGAIN_LATER)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.markers is not None:
            self.markers.cancel()
        if self.outbox is not None:
            self.outbox.discard()
        ratelimits.forget("ws_frame", self.conn_id)
        await ratelimits.connection_close(conn_id=self.conn_id)
        if self.user is None:
            return
        WEBSOCKET_CONNECTIONS.dec()
        if self.channel_name:
            groups = [user_topic(self.user_id), *(room_topic(room_id) for room_id in self.rooms)]
            self.channel_layer.forget_channel(self.channel_name, groups)
        await self.flush_markers()
        await frames.on_disconnect(self)

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None and not self.closed:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _authenticate_token(self, token: Any) -> None:
        if self._auth_timer is not None:  # the credential came in time, however long checking it takes
            self._auth_timer.cancel()
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
        self.channel_layer = get_channel_layer()
        await self.channel_layer.new_channel(sink=self)  # sets self.channel_name, our conn_id
        # Counted by the channel name: every connection has its own from here on.
        if not await ratelimits.connection_open(user_id=user.pk, conn_id=self.conn_id):
            self.channel_layer.forget_channel(self.channel_name, [])
            await self.close(code=closecodes.TOO_MANY_CONNECTIONS)
            return
        self.user, self.user_id, self.device_id = user, user.pk, device_id
        WEBSOCKET_CONNECTIONS.inc()  # disconnect() takes it back for every connection with a user
        self.held_events = deque()  # events that arrive before hello wait for it
        await self.channel_layer.group_add(user_topic(user.pk), self.channel_name)
        hello = await frames.on_authenticated(self)
        await self.send_frame(hello)
        await self._run_held()

    def conn_state(self, key: str, factory: Callable[[], Any]) -> Any:
        """Per-connection state a frame handler keeps (a typing limiter), made on first
        use: most connections never need it, and idle sockets should be small."""
        if self._conn_state is None:
            self._conn_state = {}
        state = self._conn_state.get(key)
        if state is None:
            state = self._conn_state[key] = factory()
        return state

    @property
    def conn_id(self) -> str:
        return self.channel_name  # events name it (skip_conn) to skip the sender's own echo

    async def join_rooms(self, room_ids: Iterable[int]) -> None:
        new = [room_id for room_id in room_ids if room_id not in self.rooms]
        self.rooms.update(new)
        await asyncio.gather(*(self.channel_layer.group_add(room_topic(r), self.channel_name) for r in new))

    async def leave_room(self, room_id: int) -> None:
        self.rooms.discard(room_id)
        await self.channel_layer.group_discard(room_topic(room_id), self.channel_name)

    # --- frames from the client ----------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        # The servers refuse bigger frames themselves with 1009 (--websocket-max-message-size,
        # --ws-max-size); this is for a server started without that limit.
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
                await self._unless_database_down(self._authenticate_token(frame.get("token")))
            else:
                await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        ref = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        try:
            if frame.get("type") != "message.send":  # sends have their own, per-user limit
                ratelimits.enforce("ws_frame", self.conn_id)
            await frames.handle(self, frame)
        except Throttled as exc:
            await self.send_frame(
                {
                    "type": "error",
                    "code": exc.code,
                    "detail": exc.detail,
                    "ref": ref,
                    "retry_after": ratelimits.retry_after(exc.wait or 1),
                }
            )
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
        self.outbox.put(dumps(frame))

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self.outbox is None:  # before accept: the handshake is refused
            await super().close(code, reason)
        else:  # after what is queued for the socket
            self.outbox.close(code or 1000)

    async def send_error(self, code: str, detail: str, ref: str | None = None) -> None:
        await self.send_frame({"type": "error", "code": code, "detail": detail, "ref": ref})

    # --- events from the channel layer ------------------------------------------------------
    def deliver(self, message: dict) -> None:
        """Called by the hub for each event of this connection's groups; never waits."""
        if message["type"] == "chat.room_left" and not self.closed:
            # Out of the room at once, not when the held queue gets to this event: the room's
            # next events may already be on their way to this connection (read from Redis in
            # the same batch) and would otherwise be queued behind it, reaching someone who
            # was just removed.
            self.rooms.discard(message["room"])
            self.channel_layer.group_discard_now(room_topic(message["room"]), self.channel_name)
        if self.closed:
            DROPPED.labels("connection_closed").inc()
        elif self.held_events is not None:
            self.held_events.append(message)
        elif message["type"] == FRAME:
            if self.outbox.put(message["text"]):
                observe_delivery(message)
        else:  # control messages await (a group_add); later events wait behind them
            self.held_events = deque([message])
            spawn(self._run_held())

    async def _run_held(self) -> None:
        held = self.held_events
        while held:
            message = held.popleft()
            if self.closed:
                DROPPED.labels("connection_closed").inc()
                continue
            if message["type"] == FRAME:
                if self.outbox.put(message["text"]):
                    observe_delivery(message)
                continue
            handler = CONTROL.get(message["type"])
            if handler is None:
                DROPPED.labels("unknown_type").inc()
                continue
            try:
                await handler(self, message)
            except Exception:
                logger.exception("handling a %s event failed", message["type"])
        self.held_events = None

    async def chat_room_joined(self, message: dict) -> None:
        await self.join_rooms([message["room"]])
        self.outbox.put(message["text"])

    async def chat_room_left(self, message: dict) -> None:
        await self.leave_room(message["room"])
        self.outbox.put(message["text"])

    async def chat_disconnect(self, message: dict) -> None:
        # A sign-out names its devices (or every device but `keep`); a ban names none.
        devices, keep = message.get("devices"), message.get("keep")
        if devices is not None and self.device_id not in devices:
            return
        if keep is not None and self.device_id == keep:
            return
        await self.close(code=message.get("code", CLOSE_UNAUTHENTICATED))


# Only these types act on a connection: a group_send cannot reach websocket_* handlers.
CONTROL = {
    "chat.room_joined": ChatConsumer.chat_room_joined,
    "chat.room_left": ChatConsumer.chat_room_left,
    "chat.disconnect": ChatConsumer.chat_disconnect,
}
