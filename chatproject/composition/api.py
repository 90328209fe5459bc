"""REST views answering with rooms as their members see them: rooms (from `rooms`) with
their last message (from `messaging`), so they live above both."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE, error_response
from chatproject.composition import room_list
from messaging.api.serializers import MessageSerializer
from rooms import services
from rooms.api import serializers
from rooms.models import Membership


class MyRoomSerializer(serializers.RoomSerializer):
    role = drf_serializers.ChoiceField(choices=Membership.Role.choices)
    member_count = drf_serializers.IntegerField()
    unread_count = drf_serializers.IntegerField()
    read_seq = drf_serializers.IntegerField()
    delivered_seq = drf_serializers.IntegerField()
    last_message = MessageSerializer(allow_null=True)


class RoomListView(APIView):
    @extend_schema(responses={200: MyRoomSerializer(many=True)})
    def get(self, request):
        return Response(room_list.room_list_for_user(user=request.user))

    @extend_schema(
        request=serializers.RoomCreateSerializer,
        responses={201: MyRoomSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        data = serializers.RoomCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_create(creator=request.user, **data.validated_data)
        return Response(room_list.room_detail_for_user(user=request.user, room_id=room.pk), status=201)


# A member sees the room as in their list; anyone else (a public room) as in the public list.
# anyOf, not oneOf: a member's view has every property of a visitor's.
ROOM_AS_SEEN = {
    "anyOf": [{"$ref": "#/components/schemas/MyRoom"}, {"$ref": "#/components/schemas/PublicRoom"}],
}
MANAGERS_ONLY = error_response("`permission_denied`: only the room's owner or admins may do this")


class RoomDetailView(APIView):
    http_method_names = ["get", "patch", "delete", "options"]

    @extend_schema(
        responses={200: OpenApiResponse(ROOM_AS_SEEN, description="as a member (MyRoom) or a visitor (PublicRoom)")}
    )
    def get(self, request, room_id: int):
        return Response(room_list.room_detail_for_user(user=request.user, room_id=room_id))

    @extend_schema(request=serializers.RoomUpdateSerializer, responses={200: MyRoomSerializer, 403: MANAGERS_ONLY})
    def patch(self, request, room_id: int):
        data = serializers.RoomUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.room_update(actor=request.user, room_id=room_id, **data.validated_data)
        return Response(room_list.room_detail_for_user(user=request.user, room_id=room_id))

    @extend_schema(responses={204: None, 403: error_response("`permission_denied`: only the owner deletes a room")})
    def delete(self, request, room_id: int):
        services.room_delete(actor=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomJoinView(APIView):
    @extend_schema(
        request=None,
        responses={200: MyRoomSerializer, 403: error_response("`permission_denied`: not a public room")},
    )
    def post(self, request, room_id: int):
        services.room_join(user=request.user, room_id=room_id)
        return Response(room_list.room_detail_for_user(user=request.user, room_id=room_id))


class DirectView(APIView):
    @extend_schema(
        request=serializers.DirectSerializer,
        responses={201: MyRoomSerializer, 200: MyRoomSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
        description="Gets or creates the direct conversation of exactly the caller and these users. Only "
        "creating one counts towards the rate limit.",
    )
    def post(self, request):
        data = serializers.DirectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room, created = services.direct_get_or_create(creator=request.user, user_ids=data.validated_data["user_ids"])
        return Response(
            room_list.room_detail_for_user(user=request.user, room_id=room.pk),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
