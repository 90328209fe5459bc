"""Signed-in devices: JWT refresh-token families and web sessions, listed and signed out.

Every door that signs someone in or out calls these: the token endpoints, the web
login/logout (through Django's auth signals), the settings page, the password change.
A signed-out device stops working at once: its refresh token is refused at rotation,
its access tokens by the authenticator (accounts.authentication), its web session is
deleted, and its sockets close with 4401 through the user's realtime topic.
"""

import time
from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import events
from accounts.models import Device, User
from chatproject.errors import Invalid, NotAuthenticated, NotFound

DEVICE_CLAIM = "device"
USER_AGENT_MAX = 256


def _clip(user_agent: str | None) -> str:
    return (user_agent or "")[:USER_AGENT_MAX]


def device_start(*, user: User, kind: str, user_agent: str = "", session_key: str = "") -> Device:
    now = timezone.now()
    return Device.objects.create(
        user=user, kind=kind, user_agent=_clip(user_agent), session_key=session_key, last_used_at=now
    )


def tokens_for_user(user: User, *, user_agent: str = "") -> dict[str, str]:
    """A new token device and its first token pair."""
    device = device_start(user=user, kind=Device.Kind.TOKEN, user_agent=user_agent)
    refresh = RefreshToken.for_user(user)
    refresh[DEVICE_CLAIM] = device.pk  # copied into every access token and kept by rotation
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def _refresh_token(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)  # checks signature, expiry and the blacklist
    except TokenError as exc:
        raise NotAuthenticated(f"Refresh token is invalid: {exc}") from exc


@transaction.atomic
def tokens_rotate(*, refresh: str, user_agent: str = "") -> dict[str, str]:
    """A new pair for a refresh token of a signed-in device; the old refresh token stops working."""
    token = _refresh_token(refresh)
    user = User.objects.filter(pk=token.get("user_id"), is_active=True).first()
    if user is None:
        raise NotAuthenticated("No active account found for the given token.")
    device_id = token.get(DEVICE_CLAIM)
    if device_id is None:
        # A token from before devices existed: it becomes a device of its own.
        device = device_start(user=user, kind=Device.Kind.TOKEN, user_agent=user_agent)
    else:
        device = Device.objects.select_for_update().filter(pk=device_id, user=user).first()
        if device is None or device.signed_out_at is not None:
            raise NotAuthenticated("This device was signed out.")
        # Checked again under the device's row lock: of two refreshes racing with one
        # token, the second finds it blacklisted instead of getting a second pair.
        try:
            token.check_blacklist()
        except TokenError as exc:
            raise NotAuthenticated(f"Refresh token is invalid: {exc}") from exc
        device.last_used_at = timezone.now()
        device.save(update_fields=["last_used_at"])
    token.blacklist()
    token.set_jti()
    token.set_exp()
    token.set_iat()
    token.outstand()
    token[DEVICE_CLAIM] = device.pk
    return {"access": str(token.access_token), "refresh": str(token)}


def tokens_revoke(*, refresh: str) -> None:
    """Logout with a refresh token: that token, and the device it belongs to, stop working."""
    try:
        token = RefreshToken(refresh)
        token.blacklist()
    except TokenError as exc:
        raise Invalid(f"Refresh token is invalid: {exc}") from exc
    device_id = token.get(DEVICE_CLAIM)
    if device_id is not None:
        _sign_out(Device.objects.filter(pk=device_id, user_id=token.get("user_id")))


def _end_sessions(session_keys: list[str]) -> None:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    for key in session_keys:
        if key:
            store.delete(key)


def _sign_out(devices: QuerySet[Device], *, tell_sockets: bool = True) -> list[int]:
    """Signs out the given (still signed-in) devices; their sockets hear after commit."""
    rows = list(devices.filter(signed_out_at__isnull=True).values_list("pk", "user_id", "session_key"))
    if not rows:
        return []
    ids = [pk for pk, _, _ in rows]
    Device.objects.filter(pk__in=ids).update(signed_out_at=timezone.now())
    _end_sessions([key for _, _, key in rows])
    if not tell_sockets:
        return ids
    for user_id in {user_id for _, user_id, _ in rows}:
        events.devices_signed_out(user_id=user_id, device_ids=[pk for pk, uid, _ in rows if uid == user_id])
    return ids


@transaction.atomic
def device_sign_out(*, user: User, device_id: int) -> None:
    """Signs out one of the user's devices (their own current one included)."""
    if not _sign_out(Device.objects.filter(pk=device_id, user=user)):
        raise NotFound("No signed-in device with this id.")


@transaction.atomic
def devices_sign_out_others(*, user: User, keep_device_id: int | None) -> int:
    """Signs out every device of the user but `keep_device_id`; how many were signed out."""
    others = Device.objects.filter(user=user)
    if keep_device_id is not None:
        others = others.exclude(pk=keep_device_id)
    signed_out = _sign_out(others, tell_sockets=False)
    # One event for all of them; sockets whose device is unknown (tokens from before
    # devices existed) close too.
    events.devices_signed_out(user_id=user.pk, device_ids=None, keep=keep_device_id)
    return len(signed_out)


def devices_sign_out_all(*, user: User, tell_sockets: bool = True) -> int:
    """Signs out every device of the user (a ban, a password set by an administrator)."""
    signed_out = _sign_out(Device.objects.filter(user=user), tell_sockets=False)
    if tell_sockets:
        events.devices_signed_out(user_id=user.pk, device_ids=None)
    return len(signed_out)


def web_session_signed_in(*, user: User, session, user_agent: str) -> Device:
    """A web login: the session becomes a device, and remembers which one."""
    if session.session_key is None:
        session.save()
    device = device_start(user=user, kind=Device.Kind.WEB, user_agent=user_agent, session_key=session.session_key)
    session["device_id"] = device.pk
    return device


def web_session_rekeyed(*, device_id: int | None, session_key: str) -> None:
    """The session's key changed (a password change cycles it): the device follows it."""
    if device_id is not None:
        Device.objects.filter(pk=device_id).update(session_key=session_key)


def web_session_signed_out(*, device_id: int | None) -> None:
    """A web logout signs that device out (its sockets close too)."""
    if device_id is not None:
        with transaction.atomic():
            _sign_out(Device.objects.filter(pk=device_id))


_touched: dict[int, float] = {}


def device_touch(device_id: int | None) -> None:
    """Moves last_used_at, at most once per DEVICE_TOUCH_SECONDS per device and process.

    Called on every authenticated request and socket: the throttle is a dict lookup, so
    the common case costs no round trip.
    """
    if device_id is None:
        return
    now = time.monotonic()
    if now - _touched.get(device_id, -1e9) < settings.DEVICE_TOUCH_SECONDS:
        return
    if len(_touched) > 50_000:  # bounded memory: forgetting only costs an extra write
        _touched.clear()
    _touched[device_id] = now
    Device.objects.filter(pk=device_id, signed_out_at__isnull=True).update(last_used_at=timezone.now())


def devices_signed_in(*, user: User) -> QuerySet[Device]:
    """The user's devices that can still be used: not signed out, not expired."""
    now = timezone.now()
    token_alive = Q(kind=Device.Kind.TOKEN, last_used_at__gte=now - settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"])
    web_alive = Q(kind=Device.Kind.WEB, last_used_at__gte=now - timedelta(seconds=settings.SESSION_COOKIE_AGE))
    return (
        Device.objects.filter(user=user, signed_out_at__isnull=True)
        .filter(token_alive | web_alive)
        .order_by("-last_used_at", "-id")
    )


def devices_prune() -> int:
    """Deletes the device rows that nothing can use any more; returns how many went.

    A signed-out row must outlive every access token that names it (the row is what
    refuses them), so it goes once the access-token lifetime has passed since the
    sign-out. A device unused for longer than its credential lives (the refresh token,
    or the web session) has nothing left that works; the access-token lifetime is added
    there too, for a token issued at the last use.
    """
    now = timezone.now()
    access = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    refresh = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    session = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    dead = (
        Q(signed_out_at__lt=now - access)
        | Q(kind=Device.Kind.TOKEN, last_used_at__lt=now - refresh - access)
        | Q(kind=Device.Kind.WEB, last_used_at__lt=now - session - access)
    )
    _, by_model = Device.objects.filter(dead).delete()
    return by_model.get(Device._meta.label, 0)
