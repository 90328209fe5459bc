from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField, SeqField
from rooms.models import Membership, Room


class _Passthrough(serializers.Serializer):
    """Documents a shape whose instances are already wire dicts."""

    def to_representation(self, instance):
        return instance


class RoomSerializer(_Passthrough):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Room.Kind.choices)
    name = serializers.CharField()
    topic = serializers.CharField()
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.CharField()
    last_seq = serializers.IntegerField()
    members = UserSerializer(many=True, required=False, help_text="direct conversations only")


class PublicRoomSerializer(RoomSerializer):
    member_count = serializers.IntegerField()


class RoomCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)
    kind = serializers.ChoiceField(choices=["public", "private"])
    topic = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class RoomUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    topic = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class MemberSerializer(serializers.ModelSerializer):
    user = UserSerializer()

    class Meta:
        model = Membership
        fields = ["user", "role", "joined_at"]


class MemberAddSerializer(serializers.Serializer):
    user_id = IdField()
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class DirectSerializer(serializers.Serializer):
    user_ids = serializers.ListField(child=IdField(), allow_empty=False, max_length=20)


class MarkerSerializer(serializers.Serializer):
    up_to = SeqField()


class MarkersSerializer(serializers.Serializer):
    read_seq = serializers.IntegerField()
    delivered_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
