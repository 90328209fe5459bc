"""Hooks `rooms` owns; higher apps connect receivers in their AppConfig.ready()."""

from chatproject.hooks import Hook

# receiver(room: Room, user: User, actor: User) -> None: someone added `user` to `room`
# (not a join of their own). Called inside the adding transaction, so what a receiver
# writes commits or rolls back with the membership. Notifications sends invitations.
member_added = Hook("member_added")
