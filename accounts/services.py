"""Account use cases: every door (REST, web, WebSocket, admin) calls these."""

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import events
from accounts.lockout import login_lockout_wait
from accounts.models import MODERATORS_GROUP, User
from chatproject import ratelimits
from chatproject.errors import FieldErrors, Invalid, Throttled
from chatproject.metrics import THROTTLED

DISPLAY_NAME_MAX = 64


def _messages(error: ValidationError) -> list[str]:
    return [str(m) for m in error.messages]


def _registration_errors(*, username: str, email: str, password: str, display_name: str) -> dict:
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["This field is required."]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = _messages(exc)
        if len(username) > 150:
            errors["username"] = ["At most 150 characters."]
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = ["A user with that username already exists."]
    if not email:
        errors["email"] = ["This field is required."]
    else:
        try:
            validate_email(email)
        except ValidationError as exc:
            errors["email"] = _messages(exc)
        else:
            if User.objects.filter(email__iexact=email).exists():
                errors["email"] = ["A user with that email already exists."]
    if len(display_name) > DISPLAY_NAME_MAX:
        errors["display_name"] = [f"At most {DISPLAY_NAME_MAX} characters."]
    if not password:
        errors["password"] = ["This field is required."]
    else:
        try:
            candidate = User(username=username, email=email, display_name=display_name)
            validate_password(password, user=candidate)
        except ValidationError as exc:
            errors["password"] = _messages(exc)
    return errors


@transaction.atomic
def user_register(*, username: str, email: str, password: str, display_name: str = "", address: str | None) -> User:
    """Creates an account; `address` is the client's (rate-limited), None for trusted callers (commands)."""
    if address is not None:
        ratelimits.enforce("register", address)
    username, email, display_name = username.strip(), email.strip(), display_name.strip()
    errors = _registration_errors(username=username, email=email, password=password, display_name=display_name)
    if errors:
        raise FieldErrors(errors)
    user = User(username=username, email=email, display_name=display_name)
    user.set_password(password)
    user.save()
    return user


def user_update_profile(*, user: User, display_name: str) -> User:
    display_name = display_name.strip()
    if len(display_name) > DISPLAY_NAME_MAX:
        raise FieldErrors({"display_name": [f"At most {DISPLAY_NAME_MAX} characters."]})
    user.display_name = display_name
    user.save(update_fields=["display_name"])
    return user


@transaction.atomic
def user_set_moderator(*, user: User, is_moderator: bool) -> User:
    """Moderators are staff (to reach the admin) in the moderators group."""
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    if is_moderator:
        user.groups.add(group)
        user.is_staff = True
    else:
        user.groups.remove(group)
        user.is_staff = user.is_superuser
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("is_moderator", None)
    return user


def user_login(*, username: str, password: str, request) -> User | None:
    """Checks credentials unless this username or address is locked out; None when they are wrong.

    Every door (REST token, web form, admin login) comes here. Only failures count
    (django-axes hears them from `authenticate`): a correct login uses up no allowance.
    Raises Throttled once LOGIN_FAILURES_PER_USERNAME failures for the username, or
    LOGIN_FAILURES_PER_ADDRESS from the client's address, happened within
    LOGIN_LOCKOUT_SECONDS. Inactive (banned) users fail like wrong passwords: Django's
    ModelBackend refuses them.
    """
    request = getattr(request, "_request", request)  # axes records on the Django request
    wait = login_lockout_wait(request=request, username=username)
    if wait is not None:
        THROTTLED.labels("login").inc()
        raise Throttled("Too many failed logins; try again later.", wait=wait)
    return authenticate(request, username=username, password=password)


def tokens_for_user(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def tokens_revoke(*, refresh: str) -> None:
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise Invalid(f"Refresh token is invalid: {exc}") from exc


def user_for_access_token(raw: str) -> User | None:
    """The active user an access token names, or None for any bad token."""
    auth = JWTAuthentication()
    try:
        token = auth.get_validated_token(raw.encode() if isinstance(raw, str) else raw)
        return auth.get_user(token)
    except (InvalidToken, AuthenticationFailed, TokenError):
        return None


@transaction.atomic
def user_set_active(*, user: User, is_active: bool) -> User:
    """Bans (or lifts a ban on) a user; a ban also closes their open connections."""
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    if not is_active:
        events.user_banned(user_id=user.pk)
    return user


def user_mark_seen(*, user_id: int) -> None:
    """Records that the user was just seen (presence going online or offline)."""
    User.objects.filter(pk=user_id).update(last_seen=timezone.now())
