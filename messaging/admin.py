"""Moderator screens for messages.

Messages are read-only here: an edit that bypassed messaging.services would reach
nobody's screen, and a hard delete would leave a gap in the room's seqs, which clients
read as a lost message. Moderation deletes through message_delete instead: the row
stays (deleted, body emptied) and members see message.deleted.

A message's attachments are listed on its page; a moderator removes one from the
attachment list through attachment_remove, so the room hears message.updated. The
bytes stay behind the one access rule (uploader and room members), moderators included.
"""

from django.contrib import admin
from django.template.defaultfilters import filesizeformat, truncatechars

from chatproject.admintools import confirm_with_reason, run_each
from messaging import services
from messaging.models import Attachment, Message


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = ["name", "content_type", "file_size", "width", "height", "created_at", "removed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False  # removal is an action on the attachment list, through the service
    show_change_link = True
    ordering = ["position", "id"]

    @admin.display(description="size")
    def file_size(self, attachment: Attachment) -> str:
        return filesizeformat(attachment.size)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "room", "seq", "sender", "short_body", "deleted", "created_at", "edited_at"]
    list_display_links = ["id", "short_body"]
    list_filter = ["deleted", "room__kind", "created_at"]
    list_select_related = ["room", "sender"]
    search_fields = ["body", "sender__username", "sender__display_name", "room__name", "room__topic"]
    readonly_fields = [
        "room",
        "seq",
        "sender",
        "body",
        "client_id",
        "reply_to",
        "created_at",
        "edited_at",
        "deleted",
    ]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    inlines = [AttachmentInline]
    actions = ["moderate_delete"]
    show_full_result_count = False  # COUNT(*) over every message, on every page, is not worth it

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return "(deleted)" if message.deleted else truncatechars(message.body, 80)

    def has_add_permission(self, request) -> bool:
        return False  # messages are sent in the app, through the one send path

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # see the module docstring: moderate_delete instead

    @admin.action(description="Delete selected messages (moderation)", permissions=["change"])
    def moderate_delete(self, request, queryset):
        def run(messages, reason: str) -> None:
            run_each(
                self,
                request,
                messages.select_related("room"),
                lambda message: services.message_delete(actor=request.user, message_id=message.pk, reason=reason),
                "message(s) deleted",
            )

        return confirm_with_reason(self, request, queryset, title="Delete messages (moderation)", run=run)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "content_type", "file_size", "uploader", "message", "created_at", "removed_at"]
    list_display_links = ["id", "name"]
    list_filter = [("removed_at", admin.EmptyFieldListFilter), ("message", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["uploader", "message"]
    search_fields = ["name", "uploader__username", "content_type"]
    readonly_fields = [
        "uploader",
        "message",
        "name",
        "content_type",
        "size",
        "width",
        "height",
        "file",
        "thumbnail",
        "created_at",
        "removed_at",
    ]
    exclude = ["position"]
    ordering = ["-id"]
    actions = ["moderate_remove"]
    show_full_result_count = False

    @admin.display(description="size", ordering="size")
    def file_size(self, attachment: Attachment) -> str:
        return filesizeformat(attachment.size)

    def has_add_permission(self, request) -> bool:
        return False  # uploads come through the API

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # moderate_remove instead: the room hears of it, clean-up deletes the file later

    @admin.action(description="Remove selected attachments from their messages (moderation)", permissions=["change"])
    def moderate_remove(self, request, queryset):
        def run(attachments, reason: str) -> None:
            run_each(
                self,
                request,
                attachments,
                lambda attachment: services.attachment_remove(
                    actor=request.user, attachment_id=attachment.pk, reason=reason
                ),
                "attachment(s) removed",
            )

        return confirm_with_reason(self, request, queryset, title="Remove attachments (moderation)", run=run)
