from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE
from rooms import overview, selectors, services
from rooms.api import serializers
from rooms.events import room_data


class RoomListView(APIView):
    @extend_schema(responses={200: serializers.MyRoomSerializer(many=True)})
    def get(self, request):
        return Response(overview.room_list_for_user(user=request.user))

    @extend_schema(
        request=serializers.RoomCreateSerializer,
        responses={201: serializers.MyRoomSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
    )
    def post(self, request):
        data = serializers.RoomCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_create(creator=request.user, **data.validated_data)
        return Response(overview.room_detail_for_user(user=request.user, room_id=room.pk), status=201)


class PublicRoomListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="part of a name or topic")],
        responses={200: serializers.PublicRoomSerializer(many=True)},
    )
    def get(self, request):
        rooms = selectors.public_rooms_to_join(user=request.user, search=request.query_params.get("search", ""))
        return Response([{**room_data(room), "member_count": room.member_count} for room in rooms[:200]])


class RoomDetailView(APIView):
    http_method_names = ["get", "patch", "delete", "options"]

    @extend_schema(responses={200: serializers.MyRoomSerializer})
    def get(self, request, room_id: int):
        return Response(overview.room_detail_for_user(user=request.user, room_id=room_id))

    @extend_schema(request=serializers.RoomUpdateSerializer, responses={200: serializers.MyRoomSerializer})
    def patch(self, request, room_id: int):
        data = serializers.RoomUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.room_update(actor=request.user, room_id=room_id, **data.validated_data)
        return Response(overview.room_detail_for_user(user=request.user, room_id=room_id))

    @extend_schema(responses={204: None})
    def delete(self, request, room_id: int):
        services.room_delete(actor=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomJoinView(APIView):
    @extend_schema(request=None, responses={200: serializers.MyRoomSerializer})
    def post(self, request, room_id: int):
        services.room_join(user=request.user, room_id=room_id)
        return Response(overview.room_detail_for_user(user=request.user, room_id=room_id))


class RoomLeaveView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, room_id: int):
        services.room_leave(user=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(APIView):
    @extend_schema(responses={200: serializers.MemberSerializer(many=True)})
    def get(self, request, room_id: int):
        room = selectors.room_get_visible(user=request.user, room_id=room_id)
        return Response(serializers.MemberSerializer(selectors.room_members(room=room), many=True).data)

    @extend_schema(request=serializers.MemberAddSerializer, responses={201: serializers.MemberSerializer})
    def post(self, request, room_id: int):
        data = serializers.MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(actor=request.user, room_id=room_id, **data.validated_data)
        return Response(serializers.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    http_method_names = ["patch", "delete", "options"]

    @extend_schema(request=serializers.MemberRoleSerializer, responses={200: serializers.MemberSerializer})
    def patch(self, request, room_id: int, user_id: int):
        data = serializers.MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_set_role(
            actor=request.user, room_id=room_id, user_id=user_id, role=data.validated_data["role"]
        )
        return Response(serializers.MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, room_id: int, user_id: int):
        services.member_remove(actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectView(APIView):
    @extend_schema(
        request=serializers.DirectSerializer,
        responses={201: serializers.MyRoomSerializer, 200: serializers.MyRoomSerializer, 429: THROTTLED_RESPONSE},
        parameters=[RETRY_AFTER],
        description="Gets or creates the direct conversation of exactly the caller and these users. Only "
        "creating one counts towards the rate limit.",
    )
    def post(self, request):
        data = serializers.DirectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room, created = services.direct_get_or_create(creator=request.user, user_ids=data.validated_data["user_ids"])
        return Response(
            overview.room_detail_for_user(user=request.user, room_id=room.pk),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class _MarkerView(APIView):
    read = False

    @extend_schema(request=serializers.MarkerSerializer, responses={200: serializers.MarkersSerializer})
    def post(self, request, room_id: int):
        data = serializers.MarkerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.marker_move(
            user=request.user, room_id=room_id, up_to=data.validated_data["up_to"], read=self.read
        )
        return Response(
            {
                "read_seq": membership.read_seq,
                "delivered_seq": membership.delivered_seq,
                "unread_count": overview.unread_count(membership),
            }
        )


class RoomReadView(_MarkerView):
    """Moves the caller's read marker (and delivered with it) forward, never back."""

    read = True


class RoomDeliveredView(_MarkerView):
    """Moves the caller's delivered marker forward, never back."""
