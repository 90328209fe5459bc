"""An ASGI wrapper that refuses request bodies over a size limit before the app reads them.

Django's ASGI handler reads a whole request body (into a spooled temporary file) before
any view runs, so a limit checked in the view comes after the bytes were received. This
wrapper answers 413 at once when the declared Content-Length is over the limit, and for
a body without one (chunked) stops as soon as the count passes it. The connection is
then closed, so the server reads nothing more of that body.
"""

from collections.abc import Callable

import orjson

TOO_LARGE_BODY = orjson.dumps({"detail": "The request body is larger than this endpoint accepts.", "code": "too_large"})


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app, limits: dict[str, Callable[[], int]]) -> None:
        """`limits`: exact request path -> a function giving its body limit in bytes (read per request)."""
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send) -> None:
        limit_of = self.limits.get(scope.get("path", "")) if scope["type"] == "http" else None
        if limit_of is None:
            await self.app(scope, receive, send)
            return
        limit = limit_of()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send)
            return
        received = 0
        started = False

        async def counting_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _refuse(send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE_BODY})
