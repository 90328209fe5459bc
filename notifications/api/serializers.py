from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField
from chatproject.inputs import JsonInput
from notifications.models import Notification
from notifications.wire import notification_data


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Notification.Kind.choices)
    room = serializers.IntegerField(allow_null=True)
    message = serializers.IntegerField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True)
    snippet = serializers.CharField()
    actor = UserSerializer(allow_null=True)
    created_at = serializers.CharField()
    read_at = serializers.CharField(allow_null=True)

    def to_representation(self, instance):
        return notification_data(instance)


class NotificationPageSerializer(serializers.Serializer):
    """Documents a page of DRF's cursor pagination (NotificationPagination)."""

    next = serializers.CharField(allow_null=True, help_text="URL of the next (older) page; null on the last")
    previous = serializers.CharField(allow_null=True, help_text="URL of the previous (newer) page; null on the first")
    results = NotificationSerializer(many=True)


class MarkReadSerializer(JsonInput, serializers.Serializer):
    schema_extra = {
        "anyOf": [
            {"required": ["ids"], "properties": {"ids": {"minItems": 1}}},
            {"required": ["all"], "properties": {"all": {"enum": [True]}}},
        ]
    }

    ids = serializers.ListField(child=IdField(), required=False, max_length=1000)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError({"ids": ['Give "ids" or "all": true.']})
        return attrs


class MarkedSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
    unread = serializers.IntegerField()


class PresenceSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["online", "away", "offline"])
    last_seen = serializers.CharField(allow_null=True)
