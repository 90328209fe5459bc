from rest_framework import serializers

from accounts.api.serializers import UserSerializer
from chatproject.ids import IdField, SeqField
from chatproject.inputs import JsonInput
from chatproject.schema import documented
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


# The rules are rooms.services._validate_names' (a name with something besides spaces, at most 80
# characters once trimmed; a topic of at most 250); the schema says them so that clients can check first.
ROOM_NAME_SCHEMA = {"maxLength": 80, "pattern": r"\S"}


class RoomCreateSerializer(JsonInput, serializers.Serializer):
    name = documented(serializers.CharField(max_length=200, allow_blank=True), **ROOM_NAME_SCHEMA)
    kind = serializers.ChoiceField(choices=["public", "private"])
    topic = documented(
        serializers.CharField(max_length=1000, required=False, allow_blank=True, default=""), maxLength=250
    )


class RoomUpdateSerializer(JsonInput, serializers.Serializer):
    name = documented(serializers.CharField(max_length=200, required=False, allow_blank=True), **ROOM_NAME_SCHEMA)
    topic = documented(serializers.CharField(max_length=1000, required=False, allow_blank=True), maxLength=250)


class MemberSerializer(serializers.ModelSerializer):
    user = UserSerializer()

    class Meta:
        model = Membership
        fields = ["user", "role", "joined_at"]


class MemberAddSerializer(JsonInput, serializers.Serializer):
    user_id = IdField()
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.MEMBER)


class MemberRoleSerializer(JsonInput, serializers.Serializer):
    whole_on_patch = True  # PATCH changes the one thing a membership has: its role, which it must give

    role = serializers.ChoiceField(choices=Membership.Role.choices)


class DirectSerializer(JsonInput, serializers.Serializer):
    # The other people: at least one (the caller is implied), at most 20.
    user_ids = serializers.ListField(child=IdField(), allow_empty=False, min_length=1, max_length=20)


class MarkerSerializer(JsonInput, serializers.Serializer):
    up_to = SeqField()


class MarkersSerializer(serializers.Serializer):
    read_seq = serializers.IntegerField()
    delivered_seq = serializers.IntegerField()
    unread_count = serializers.IntegerField()
