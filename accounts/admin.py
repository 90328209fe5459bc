from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef

from accounts import services
from accounts.forms import AdminLoginForm
from accounts.hooks import user_presence
from accounts.models import MODERATORS_GROUP, User

# The admin's login goes through accounts.services.user_login like every other door.
admin.site.login_form = AdminLoginForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "display_name",
        "email",
        "is_active",
        "is_staff",
        "is_moderator_flag",
        "presence",
        "last_seen",
    ]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    search_fields = ["username", "display_name", "email"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Chat", {"fields": ("display_name", "last_seen")}))
    readonly_fields = ["last_seen"]
    actions = ["make_moderator", "remove_moderator", "deactivate"]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One round trip to the presence store for the whole page. Presence is kept
        # higher up (notifications), which answers through the hook; none answers: blank.
        statuses: dict[int, str] = {}
        for answer in user_presence.send(user_ids=[user.pk for user in changelist.result_list]):
            statuses.update(answer)
        for user in changelist.result_list:
            user.presence_status = statuses.get(user.pk, "")
        return changelist

    def get_queryset(self, request):
        moderators = Group.objects.filter(name=MODERATORS_GROUP, user=OuterRef("pk"))
        return super().get_queryset(request).annotate(in_moderators=Exists(moderators))

    @admin.display(description="presence")
    def presence(self, user: User) -> str:
        return getattr(user, "presence_status", "")

    @admin.display(boolean=True, description="moderator")
    def is_moderator_flag(self, user: User) -> bool:
        return user.is_superuser or getattr(user, "in_moderators", False)

    @admin.action(description="Make the selected users moderators")
    def make_moderator(self, request, queryset):
        for user in queryset:
            services.user_set_moderator(user=user, is_moderator=True)
        self.message_user(request, f"{queryset.count()} user(s) are now moderators.", messages.SUCCESS)

    @admin.action(description="Remove the moderator role")
    def remove_moderator(self, request, queryset):
        for user in queryset:
            services.user_set_moderator(user=user, is_moderator=False)
        self.message_user(request, f"{queryset.count()} user(s) are no longer moderators.", messages.SUCCESS)

    @admin.action(description="Deactivate (ban) the selected users")
    def deactivate(self, request, queryset):
        users = list(queryset.exclude(pk=request.user.pk))
        for user in users:
            services.user_set_active(user=user, is_active=False)
        count = len(users)
        self.message_user(request, f"{count} user(s) deactivated.", messages.SUCCESS)
