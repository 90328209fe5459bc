"""Hooks `accounts` owns; higher apps connect receivers in their AppConfig.ready()."""

from chatproject.hooks import Hook

# receiver(user_ids: list[int]) -> dict[int, str]: each user's presence status. The
# user admin's presence column asks it; notifications (which keeps presence) answers.
user_presence = Hook("user_presence")
