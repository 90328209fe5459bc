"""Moderator screens for rooms and memberships.

Every change goes through rooms.services, so members' connections hear of it
(room.updated, room.left) exactly as when the change comes from the app. Nothing here
saves or deletes a Room or a Membership row itself.
"""

from django import forms
from django.contrib import admin
from django.db.models import Count

from chatproject.admintools import run_each
from rooms import services
from rooms.models import Membership, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ["user", "role", "joined_at", "read_seq", "delivered_seq"]
    readonly_fields = fields
    extra = 0
    can_delete = False  # removal is an action on the membership list, through the service
    show_change_link = True
    ordering = ["joined_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ["name", "topic"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if self.instance.kind != Room.Kind.DIRECT and not name:
            raise forms.ValidationError("A room needs a name.")
        return name


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    form = RoomForm
    list_display = ["__str__", "kind", "topic", "created_by", "member_count", "last_seq", "created_at"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name", "topic", "created_by__username"]
    readonly_fields = ["kind", "created_by", "created_at", "last_seq", "direct_key"]
    fields = ["name", "topic", *readonly_fields]
    inlines = [MembershipInline]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_direct:
            return ["name", "topic", *self.readonly_fields]
        return self.readonly_fields

    @admin.display(ordering="member_count", description="members")
    def member_count(self, room: Room) -> int:
        return room.member_count

    def has_add_permission(self, request) -> bool:
        return False  # rooms start in the app, where their creator becomes the owner

    def save_model(self, request, obj: Room, form, change: bool) -> None:
        changed = {field: form.cleaned_data[field] for field in form.changed_data if field in ("name", "topic")}
        if changed:
            services.room_update(actor=request.user, room_id=obj.pk, **changed)

    def delete_model(self, request, obj: Room) -> None:
        services.room_delete(actor=request.user, room_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for room in queryset:
            services.room_delete(actor=request.user, room_id=room.pk)

    def get_deleted_objects(self, objs, request):
        # Memberships and messages go with their room by cascade; room_delete decides who
        # may do it, so the per-model delete permissions (off for messages) do not apply.
        to_delete, model_count, _, protected = super().get_deleted_objects(objs, request)
        return to_delete, model_count, set(), protected


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "room", "room_kind", "role", "joined_at", "read_seq", "delivered_seq"]
    list_filter = ["role", "room__kind", "joined_at"]
    list_select_related = ["user", "room"]
    search_fields = ["user__username", "user__display_name", "room__name", "room__topic"]
    readonly_fields = ["room", "user", "role", "joined_at", "read_seq", "delivered_seq"]
    actions = ["remove_members", "make_owner", "make_admin", "make_member"]

    @admin.display(ordering="room__kind", description="kind")
    def room_kind(self, membership: Membership) -> str:
        return membership.room.kind

    def has_add_permission(self, request) -> bool:
        return False  # members join or are added in the app

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by remove_members, which tells the room
        return actions

    def delete_model(self, request, obj: Membership) -> None:
        services.member_remove(actor=request.user, room_id=obj.room_id, user_id=obj.user_id)

    @admin.action(description="Remove selected members from their rooms", permissions=["delete"])
    def remove_members(self, request, queryset):
        run_each(
            self,
            request,
            queryset.select_related("user", "room"),
            lambda m: services.member_remove(actor=request.user, room_id=m.room_id, user_id=m.user_id),
            "member(s) removed",
        )

    def _set_role(self, request, queryset, role: str) -> None:
        run_each(
            self,
            request,
            queryset.select_related("user", "room"),
            lambda m: services.member_set_role(actor=request.user, room_id=m.room_id, user_id=m.user_id, role=role),
            f"member(s) now {role}",
        )

    @admin.action(description="Make selected members owners", permissions=["change"])
    def make_owner(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.OWNER)

    @admin.action(description="Make selected members admins", permissions=["change"])
    def make_admin(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.ADMIN)

    @admin.action(description="Make selected members plain members", permissions=["change"])
    def make_member(self, request, queryset):
        self._set_role(request, queryset, Membership.Role.MEMBER)
