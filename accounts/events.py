from chatproject import closecodes
from chatproject.realtime import publish_on_commit, user_topic


def user_banned(*, user_id: int) -> None:
    publish_on_commit(user_topic(user_id), {"kind": "disconnect", "code": closecodes.DEACTIVATED})
