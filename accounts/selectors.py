from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User


def user_directory(*, search: str = "", exclude: User | None = None) -> QuerySet[User]:
    users = User.objects.filter(is_active=True).order_by("username")
    search = search.replace("\x00", "")  # no stored text holds NUL, and PostgreSQL refuses it in a query
    if search:
        users = users.filter(Q(username__icontains=search) | Q(display_name__icontains=search))
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users


def users_by_ids(ids: list[int]) -> dict[int, User]:
    return User.objects.filter(pk__in=ids, is_active=True).in_bulk()


def users_last_seen(*, user_ids: list[int]) -> dict[int, datetime | None]:
    """When each user was last seen, as stored (the presence store may know better)."""
    return dict(User.objects.filter(pk__in=user_ids).values_list("pk", "last_seen"))
