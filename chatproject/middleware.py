"""Run the middleware chain in sync mode under ASGI.

Django runs an async-capable MiddlewareMixin in async mode under ASGI and hops to a
worker thread for each of its hooks: our nine middlewares cost about a dozen thread
hops per request. Marked sync-only, the whole chain and the (sync) DRF view run in one
thread, entered once, as under WSGI. The classes stay the ones named in MIDDLEWARE, so
Django's deploy checks still see them. Measured with bench scenario D (REST send).
"""

import re
import uuid

from django.conf import settings
from django.utils.module_loading import import_string

from chatproject.logging import request_id


def run_middleware_sync() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if getattr(middleware, "sync_capable", True):
            middleware.async_capable = False


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Every request gets an id (the proxy's X-Request-ID if sane), in its log lines and its response."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
