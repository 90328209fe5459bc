from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # notifications sits on top of accounts, rooms and messaging: it reacts to them
        # through the hooks they own, so none of them imports it.
        from accounts.hooks import user_presence
        from messaging import frames as ws_frames
        from messaging.hooks import connection_closed, connection_opened, message_stored
        from notifications import frames, presence, services
        from rooms.hooks import member_added

        message_stored.connect(services.notify_for_message)
        member_added.connect(_invite)
        user_presence.connect(presence.presence_statuses)
        connection_opened.connect(frames.on_connection_opened)
        connection_closed.connect(frames.on_connection_closed)
        ws_frames.register("typing", frames.handle_typing)
        ws_frames.register("presence", frames.handle_presence)


def _invite(*, room, user, actor) -> None:
    from notifications.services import notify_invitation

    notify_invitation(room=room, recipient=user, inviter=actor)
