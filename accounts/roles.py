"""Site roles: ordinary user, moderator (a group), superuser."""

from django.contrib.auth.models import Group, Permission

from accounts.models import MODERATORS_GROUP

# What moderators may do in the admin. Apps that do not exist yet are skipped.
MODERATOR_PERMISSIONS = [
    "accounts.view_user",
    "accounts.change_user",
    "accounts.view_auditlog",
    "rooms.view_room",
    "rooms.change_room",
    "rooms.delete_room",
    "rooms.view_membership",
    "rooms.change_membership",
    "rooms.delete_membership",
    "messaging.view_message",
    "messaging.change_message",
    "messaging.delete_message",
    "messaging.view_attachment",
    "messaging.change_attachment",
    "notifications.view_notification",
]


def ensure_moderators_group(**kwargs) -> Group:
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    wanted = [code.split(".", 1) for code in MODERATOR_PERMISSIONS]
    permissions = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in wanted},
        codename__in={codename for _, codename in wanted},
    )
    group.permissions.add(*permissions)
    return group
