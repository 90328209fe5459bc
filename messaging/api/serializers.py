from django.conf import settings
from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField
from chatproject.inputs import JsonInput
from chatproject.schema import documented


class AttachmentSerializer(serializers.Serializer):
    """Documents the attachment object; instances are dicts from messaging.wire.attachment_data."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    size = serializers.IntegerField(help_text="bytes")
    content_type = serializers.CharField(help_text="sniffed from the bytes, not the client's claim")
    url = serializers.CharField(help_text="path on this server; GET with Bearer or session cookie")
    thumbnail_url = serializers.CharField(allow_null=True, help_text="set once a thumbnail exists (raster images)")
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)

    def to_representation(self, instance):
        return instance


class MessageSerializer(serializers.Serializer):
    """Documents the message shape; instances are the dicts from messaging.wire.message_data."""

    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    room = serializers.IntegerField()
    sender = UserSerializer(allow_null=True)
    body = serializers.CharField()
    client_id = serializers.CharField()
    created_at = serializers.CharField()
    edited_at = serializers.CharField(allow_null=True)
    deleted = serializers.BooleanField()
    reply_to = serializers.IntegerField(allow_null=True)
    attachments = AttachmentSerializer(many=True, help_text="attachment objects, in order")
    status = serializers.ChoiceField(choices=["sent", "delivered", "read"])

    def to_representation(self, instance):
        return instance


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()
    has_more_before = serializers.BooleanField(required=False, help_text="only with `around`: older messages exist")
    has_more_after = serializers.BooleanField(required=False, help_text="only with `around`: newer messages exist")

    def to_representation(self, instance):
        return instance


class MessageSendSerializer(JsonInput, serializers.Serializer):
    # Shapes only; the rules (length, membership, idempotency) live in messaging.services, and
    # the schema says them: a body with something besides spaces, or at least one attachment.
    schema_extra = {
        "anyOf": [
            {"required": ["body"], "properties": {"body": {"pattern": r"\S"}}},
            {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
        ]
    }

    body = documented(
        serializers.CharField(trim_whitespace=False, allow_blank=True, required=False),
        maxLength=settings.MESSAGE_MAX_LENGTH,
    )
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    reply_to = IdField(required=False, allow_null=True)
    attachments = documented(
        serializers.ListField(
            child=IdField(),
            required=False,
            help_text="ids of the sender's unused uploads, at most 10; with any, `body` may be empty",
        ),
        maxItems=10,
        uniqueItems=True,
    )


class MessageEditSerializer(JsonInput, serializers.Serializer):
    whole_on_patch = True  # PATCH changes the one thing an edit can: the body, which it must give

    body = documented(
        serializers.CharField(trim_whitespace=False, allow_blank=True),
        maxLength=settings.MESSAGE_MAX_LENGTH,
        pattern=r"\S",
    )


class MessageReceiptSerializer(serializers.Serializer):
    user = UserSerializer()
    status = serializers.ChoiceField(choices=["sent", "delivered", "read"])

    def to_representation(self, instance):
        return instance


class MessageSearchResultSerializer(serializers.Serializer):
    message = MessageSerializer()
    room = serializers.IntegerField()
    snippet = serializers.CharField(help_text="HTML-escaped, matches wrapped in <mark>…</mark>")

    def to_representation(self, instance):
        return instance


class MessageSearchPageSerializer(serializers.Serializer):
    results = MessageSearchResultSerializer(many=True)
    has_more = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True, help_text="pass as `cursor` for the next page")

    def to_representation(self, instance):
        return instance


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
