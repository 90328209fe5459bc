from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from accounts.roles import ensure_moderators_group
        from accounts.signals import on_logged_in, on_logged_out

        user_logged_in.connect(on_logged_in, dispatch_uid="accounts.device_in")
        user_logged_out.connect(on_logged_out, dispatch_uid="accounts.device_out")

        # After every migrate, so permissions of apps added later join the role too.
        post_migrate.connect(ensure_moderators_group, dispatch_uid="accounts.moderators")
