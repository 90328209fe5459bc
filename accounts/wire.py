"""How users look on the wire, for every door and event."""

from accounts.models import User


def user_public(user: User) -> dict:
    """The user as every other user sees it."""
    return {"id": user.pk, "username": user.username, "display_name": user.shown_name}
