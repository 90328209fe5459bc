from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField


class MessageSerializer(serializers.Serializer):
    """Documents the message shape; instances are the dicts from messaging.events.message_data."""

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
    attachments = serializers.ListField(child=serializers.DictField())
    status = serializers.ChoiceField(choices=["sent", "delivered", "read"])

    def to_representation(self, instance):
        return instance


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()

    def to_representation(self, instance):
        return instance


class MessageSendSerializer(serializers.Serializer):
    # Shapes only; the rules (length, membership, idempotency) live in messaging.services.
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    reply_to = IdField(required=False, allow_null=True)
    attachments = serializers.ListField(child=IdField(), required=False)


class MessageEditSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


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
