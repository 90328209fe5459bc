from chatproject import closecodes
from chatproject.realtime import publish_on_commit, user_topic


def user_banned(*, user_id: int) -> None:
    """Every socket of the user closes with 4403, on whichever process holds it."""
    publish_on_commit(user_topic(user_id), {"kind": "disconnect", "code": closecodes.DEACTIVATED})


def devices_signed_out(*, user_id: int, device_ids: list[int] | None = None, keep: int | None = None) -> None:
    """The sockets of these devices (None: every device but `keep`) close with 4401.

    Sent on the user's topic, so it reaches every process; each socket compares its own
    device id, so the user's other devices stay connected.
    """
    event = {"kind": "disconnect", "code": closecodes.UNAUTHENTICATED, "devices": device_ids, "keep": keep}
    publish_on_commit(user_topic(user_id), event)
