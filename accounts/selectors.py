from django.db.models import Q, QuerySet

from accounts.models import User


def user_directory(*, search: str = "", exclude: User | None = None) -> QuerySet[User]:
    users = User.objects.filter(is_active=True).order_by("username")
    if search:
        users = users.filter(Q(username__icontains=search) | Q(display_name__icontains=search))
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users


def users_by_ids(ids: list[int]) -> dict[int, User]:
    return User.objects.filter(pk__in=ids, is_active=True).in_bulk()


def user_public(user: User) -> dict:
    """The user as every other user sees it, on the wire."""
    return {"id": user.pk, "username": user.username, "display_name": user.shown_name}
