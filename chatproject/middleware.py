"""Run the middleware chain in sync mode under ASGI.

Django runs an async-capable MiddlewareMixin in async mode under ASGI and hops to a
worker thread for each of its hooks: our nine middlewares cost about a dozen thread
hops per request. Marked sync-only, the whole chain and the (sync) DRF view run in one
thread, entered once, as under WSGI. The classes stay the ones named in MIDDLEWARE, so
Django's deploy checks still see them. Measured with bench scenario D (REST send).
"""

from django.conf import settings
from django.utils.module_loading import import_string


def run_middleware_sync() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        if getattr(middleware, "sync_capable", True):
            middleware.async_capable = False
