from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField
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


class MarkReadSerializer(serializers.Serializer):
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
