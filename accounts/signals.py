"""Django's login/logout signals, for every web door (our login page, the admin's, tests)."""

from accounts import devices


def on_logged_in(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    devices.web_session_signed_in(user=user, session=session, user_agent=request.META.get("HTTP_USER_AGENT", ""))


def on_logged_out(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        devices.web_session_signed_out(device_id=session.get("device_id"))
