from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.roles import ensure_moderators_group

        # After every migrate, so permissions of apps added later join the role too.
        post_migrate.connect(ensure_moderators_group, dispatch_uid="accounts.moderators")
