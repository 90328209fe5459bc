"""Account use cases: every door (REST, web, WebSocket, admin) calls these."""

from collections.abc import Iterable

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts import devices, events
from accounts.audit import audit_record
from accounts.authentication import identity_for_access_token
from accounts.lockout import login_lockout_wait
from accounts.models import MODERATORS_GROUP, AuditLog, User
from chatproject import ratelimits
from chatproject.errors import FieldErrors, Invalid, PermissionDenied, Throttled
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


def _require_moderator(actor: User | None) -> None:
    if actor is not None and not actor.is_moderator:
        raise PermissionDenied("Only moderators may do this.")


def _require_superuser(actor: User | None, what: str) -> None:
    # Moderators manage ordinary users; rights over the moderators themselves (and the
    # staff and superuser flags) stay with superusers, or a moderator could crown
    # themselves or unseat the others.
    if actor is not None and not (actor.is_active and actor.is_superuser):
        raise PermissionDenied(f"Only superusers may {what}.")


@transaction.atomic
def user_set_moderator(*, user: User, is_moderator: bool, actor: User | None = None, reason: str = "") -> User:
    """Moderators are staff (to reach the admin) in the moderators group.

    `actor` None is a trusted caller (a management command, a test set-up); every door
    passes the signed-in user.
    """
    _require_superuser(actor, "grant or take the moderator role")
    if user.is_superuser and not is_moderator:
        raise Invalid("A superuser is always a moderator.")
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    was = user.groups.filter(pk=group.pk).exists()
    if is_moderator:
        user.groups.add(group)
        user.is_staff = True
    else:
        user.groups.remove(group)
        user.is_staff = user.is_superuser
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("is_moderator", None)
    if was != is_moderator:
        kind = AuditLog.Kind.MODERATOR_GRANTED if is_moderator else AuditLog.Kind.MODERATOR_REVOKED
        audit_record(actor=actor, kind=kind, target_user=user, summary=user.username, reason=reason)
    return user


@transaction.atomic
def user_set_privileges(
    *,
    actor: User | None,
    user: User,
    is_staff: bool,
    is_superuser: bool,
    groups: Iterable[Group],
    permissions: Iterable[Permission],
    reason: str = "",
) -> User:
    """Staff and superuser flags, groups and permissions: superusers only, all recorded.

    The moderators group goes through here too (a superuser may tick it on the user
    form); staff follows it, as in user_set_moderator.
    """
    user_set_privileges_check(actor=actor)
    groups, permissions = set(groups), set(permissions)
    moderators, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    before_groups = set(user.groups.all())
    before = (user.is_staff, user.is_superuser, before_groups, set(user.user_permissions.all()))
    if moderators in groups:
        is_staff = True
    if actor is not None and user.pk == actor.pk and not is_superuser:
        raise Invalid("You cannot take your own superuser rights.")
    user.is_staff, user.is_superuser = is_staff, is_superuser
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.set(groups)
    user.user_permissions.set(permissions)
    user.__dict__.pop("is_moderator", None)
    if (moderators in groups) != (moderators in before_groups):
        kind = AuditLog.Kind.MODERATOR_GRANTED if moderators in groups else AuditLog.Kind.MODERATOR_REVOKED
        audit_record(actor=actor, kind=kind, target_user=user, summary=user.username, reason=reason)
    after = (user.is_staff, user.is_superuser, groups, permissions)
    if after != before:
        changes = []
        for name, old, new in (("staff", before[0], after[0]), ("superuser", before[1], after[1])):
            if old != new:
                changes.append(f"{name} {'on' if new else 'off'}")
        if before[2] != groups:
            changes.append("groups: " + (", ".join(sorted(g.name for g in groups)) or "none"))
        if before[3] != permissions:
            changes.append(f"{len(permissions)} direct permission(s)")
        audit_record(
            actor=actor,
            kind=AuditLog.Kind.PRIVILEGES_CHANGED,
            target_user=user,
            summary=f"{user.username}: " + "; ".join(changes),
            reason=reason,
        )
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


def user_for_access_token(raw: str) -> User | None:
    """The active user an access token of a signed-in device names, or None for any bad token."""
    identity = identity_for_access_token(raw)
    return identity[0] if identity else None


def user_set_active_check(*, actor: User | None, user: User) -> None:
    """Raises unless the actor may ban or unban the user (forms call it to validate early)."""
    _require_moderator(actor)
    if actor is not None and user.pk == actor.pk:
        raise Invalid("You cannot deactivate or reactivate yourself.")
    if actor is not None and (user.is_staff or user.is_superuser) and not actor.is_superuser:
        raise PermissionDenied("Only superusers may deactivate or reactivate staff and superusers.")


def user_set_privileges_check(*, actor: User | None) -> None:
    """Raises unless the actor may change staff, superuser, group or permission rights."""
    _require_superuser(actor, "change staff, superuser, group or permission rights")


@transaction.atomic
def user_set_active(*, user: User, is_active: bool, actor: User | None = None, reason: str = "") -> User:
    """Bans (or lifts a ban on) a user; a ban closes their sockets (4403) and refuses their tokens.

    Moderators may ban ordinary users; staff and superusers only a superuser may.
    """
    user_set_active_check(actor=actor, user=user)
    if user.is_active == is_active:
        return user
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    user.__dict__.pop("is_moderator", None)
    kind = AuditLog.Kind.UNBAN if is_active else AuditLog.Kind.BAN
    audit_record(actor=actor, kind=kind, target_user=user, summary=user.username, reason=reason)
    if not is_active:
        # Every device is signed out too, so lifting the ban later does not revive them;
        # the sockets hear 4403 (banned), not 4401.
        devices.devices_sign_out_all(user=user, tell_sockets=False)
        events.user_banned(user_id=user.pk)
    return user


@transaction.atomic
def user_password_set_by_admin(*, actor: User, user: User) -> None:
    """After a superuser set someone's password in the admin: their devices are signed out.

    Django's admin form writes the hash; this is the rest of the use case. Moderators
    never reach it (the admin page is for superusers).
    """
    _require_superuser(actor, "set another user's password")
    devices.devices_sign_out_all(user=user)
    audit_record(actor=actor, kind=AuditLog.Kind.PASSWORD_SET, target_user=user, summary=user.username)


@transaction.atomic
def user_change_password(*, user: User, old_password: str, new_password: str, keep_device_id: int | None) -> User:
    """Changes the password and signs out every other device (their sockets close with 4401)."""
    if not user.check_password(old_password):
        raise FieldErrors({"old_password": ["That is not your current password."]})
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise FieldErrors({"new_password": _messages(exc)}) from exc
    user.set_password(new_password)
    user.save(update_fields=["password"])
    devices.devices_sign_out_others(user=user, keep_device_id=keep_device_id)
    return user


def user_mark_seen(*, user_id: int) -> None:
    """Records that the user was just seen (presence going online or offline)."""
    User.objects.filter(pk=user_id).update(last_seen=timezone.now())
