"""Moderator screens for users, and the read-only audit log.

Nothing here writes is_active, is_staff, is_superuser, groups or permissions itself:
the change form's values go to accounts.services (user_set_active,
user_set_privileges), which check who may do what, close sockets and write the audit
log. Moderators see those rights read-only and cannot change superusers at all.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef

from accounts import services
from accounts.forms import AdminLoginForm
from accounts.hooks import user_presence
from accounts.models import MODERATORS_GROUP, AuditLog, User
from chatproject.admintools import confirm_with_reason, run_each
from chatproject.errors import DomainError

PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions")
WRITTEN_BY_SERVICES = {"is_active", *PRIVILEGES}


class UserChangeForm(DjangoUserChangeForm):
    reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why you deactivate the user or change their rights (optional, kept in the audit log).",
    )
    actor: User | None = None  # the signed-in admin user, set by UserAdmin.get_form

    def clean(self):
        cleaned = super().clean()
        # Asked before anything is saved, so a refusal is a form error, not half a save.
        # self.instance still holds the stored values here (ModelForm fills it afterwards).
        try:
            if "is_active" in self.changed_data:
                services.user_set_active_check(actor=self.actor, user=self.instance)
            if set(self.changed_data) & set(PRIVILEGES):
                services.user_set_privileges_check(actor=self.actor)
        except DomainError as exc:
            raise forms.ValidationError(exc.detail, code=exc.code) from exc
        return cleaned


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
    form = UserChangeForm
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Chat", {"fields": ("display_name", "last_seen")}),
        ("Moderation", {"fields": ("reason",)}),
    )
    readonly_fields = ["last_seen"]
    actions = ["make_moderator", "remove_moderator", "deactivate", "reactivate"]
    superuser_actions = {"make_moderator", "remove_moderator"}

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            return form  # the add form (username, password) writes no rights
        return type(form.__name__, (form,), {"actor": request.user})

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [name for name in PRIVILEGES if name not in fields]
        return fields

    def has_change_permission(self, request, obj=None) -> bool:
        # Moderators manage ordinary users; a superuser's account is for superusers to edit.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password is taking over their account: superusers only, and
        # the user's devices are signed out afterwards.
        if not request.user.is_superuser:
            raise PermissionDenied
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            target = User.objects.filter(pk=id).first()
            if target is not None and request.get_full_path() != response.get("Location"):
                services.user_password_set_by_admin(actor=request.user, user=target)
        return response

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting an account takes its messages with it (gaps in rooms' seqs): superusers
        # only, and moderators ban instead.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            for name in self.superuser_actions:
                actions.pop(name, None)
        return actions

    def save_model(self, request, obj: User, form, change: bool) -> None:
        if not change:
            return super().save_model(request, obj, form, change)
        # Only the plain fields are saved here; the rights go through the services in
        # save_related, from the stored row (obj already carries the form's values).
        form.stored_user = User.objects.get(pk=obj.pk)
        concrete = {f.name for f in User._meta.concrete_fields}
        fields = [name for name in form.changed_data if name in concrete and name not in WRITTEN_BY_SERVICES]
        if fields:
            obj.save(update_fields=fields)
        return None

    def save_related(self, request, form, formsets, change: bool) -> None:
        if not change:
            return super().save_related(request, form, formsets, change)
        user, data, changed = form.stored_user, form.cleaned_data, set(form.changed_data)
        reason = data.get("reason", "")
        if "is_active" in changed:
            services.user_set_active(actor=request.user, user=user, is_active=data["is_active"], reason=reason)
        if changed & set(PRIVILEGES):
            services.user_set_privileges(
                actor=request.user,
                user=user,
                is_staff=data.get("is_staff", user.is_staff),
                is_superuser=data.get("is_superuser", user.is_superuser),
                groups=data["groups"] if "groups" in data else user.groups.all(),
                permissions=data["user_permissions"] if "user_permissions" in data else user.user_permissions.all(),
                reason=reason,
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
        return None

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
        run_each(
            self,
            request,
            queryset,
            lambda user: services.user_set_moderator(actor=request.user, user=user, is_moderator=True),
            "user(s) are now moderators",
        )

    @admin.action(description="Remove the moderator role")
    def remove_moderator(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda user: services.user_set_moderator(actor=request.user, user=user, is_moderator=False),
            "user(s) are no longer moderators",
        )

    def _set_active(self, request, queryset, *, is_active: bool, title: str, verb: str):
        def run(users, reason: str) -> None:
            run_each(
                self,
                request,
                users,
                lambda user: services.user_set_active(
                    actor=request.user, user=user, is_active=is_active, reason=reason
                ),
                verb,
            )

        return confirm_with_reason(self, request, queryset, title=title, run=run)

    @admin.action(description="Deactivate (ban) the selected users")
    def deactivate(self, request, queryset):
        return self._set_active(
            request, queryset, is_active=False, title="Deactivate (ban) users", verb="user(s) deactivated"
        )

    @admin.action(description="Reactivate (lift the ban on) the selected users")
    def reactivate(self, request, queryset):
        return self._set_active(request, queryset, is_active=True, title="Reactivate users", verb="user(s) reactivated")


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the log is a record, not a document."""

    list_display = ["created_at", "kind", "actor", "target_user", "room_id", "message_id", "summary", "reason"]
    list_filter = [
        "kind",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("target_user", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["actor", "target_user"]
    search_fields = ["actor__username", "target_user__username", "summary", "reason", "=room_id", "=message_id"]
    date_hierarchy = "created_at"
    readonly_fields = list_display
    fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
