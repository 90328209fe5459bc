"""REST doors of rooms and memberships. The room list and the views answering with a
room as its member sees it (with its last message) are in chatproject.composition.api."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import error_response
from rooms import selectors, services
from rooms.api import serializers
from rooms.wire import room_data

MANAGERS_ONLY = error_response("`permission_denied`: only the room's owner or admins may do this")
NOT_A_MEMBER = error_response("`permission_denied`: the caller is not a member of this (public) room")


class PublicRoomListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="part of a name or topic")],
        responses={200: serializers.PublicRoomSerializer(many=True)},
    )
    def get(self, request):
        rooms = selectors.public_rooms_to_join(user=request.user, search=request.query_params.get("search", ""))
        return Response([{**room_data(room), "member_count": room.member_count} for room in rooms[:200]])


class RoomLeaveView(APIView):
    @extend_schema(
        request=None,
        responses={
            204: None,
            400: error_response("`invalid`: the caller is not a member, or is its last owner"),
            403: error_response("`permission_denied`: nobody leaves a direct conversation"),
        },
    )
    def post(self, request, room_id: int):
        services.room_leave(user=request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(APIView):
    @extend_schema(responses={200: serializers.MemberSerializer(many=True)})
    def get(self, request, room_id: int):
        room = selectors.room_get_visible(user=request.user, room_id=room_id)
        return Response(serializers.MemberSerializer(selectors.room_members(room=room), many=True).data)

    @extend_schema(
        request=serializers.MemberAddSerializer, responses={201: serializers.MemberSerializer, 403: MANAGERS_ONLY}
    )
    def post(self, request, room_id: int):
        data = serializers.MemberAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(actor=request.user, room_id=room_id, **data.validated_data)
        return Response(serializers.MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    http_method_names = ["patch", "delete", "options"]

    @extend_schema(
        request=serializers.MemberRoleSerializer, responses={200: serializers.MemberSerializer, 403: MANAGERS_ONLY}
    )
    def patch(self, request, room_id: int, user_id: int):
        data = serializers.MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_set_role(
            actor=request.user, room_id=room_id, user_id=user_id, role=data.validated_data["role"]
        )
        return Response(serializers.MemberSerializer(membership).data)

    @extend_schema(
        responses={
            204: None,
            400: error_response("`invalid`: the room would be left without an owner, or the caller is not a member"),
            403: MANAGERS_ONLY,
        }
    )
    def delete(self, request, room_id: int, user_id: int):
        services.member_remove(actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _MarkerView(APIView):
    read = False

    @extend_schema(
        request=serializers.MarkerSerializer, responses={200: serializers.MarkersSerializer, 403: NOT_A_MEMBER}
    )
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
                "unread_count": selectors.unread_count(membership),
            }
        )


class RoomReadView(_MarkerView):
    """Moves the caller's read marker (and delivered with it) forward, never back."""

    read = True


class RoomDeliveredView(_MarkerView):
    """Moves the caller's delivered marker forward, never back."""
