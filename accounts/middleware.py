"""Moves a web device's last_used_at (throttled in accounts.devices.device_touch)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.devices import device_touch


def web_device_touch(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        session = getattr(request, "session", None)
        # Only sessions the request already loaded (a signed-in page): no session read
        # is added to requests that did not need one (Bearer REST calls, health checks).
        if session is not None and session.accessed and session.session_key:
            device_touch(session.get("device_id"))
        return response

    return middleware
