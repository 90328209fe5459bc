from chatproject.realtime import publish_on_commit, user_group


def user_banned(*, user_id: int) -> None:
    publish_on_commit(user_group(user_id), {"type": "chat.disconnect", "code": 4403})
