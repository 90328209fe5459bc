from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.ids import id_list
from notifications import presence, selectors, services
from notifications.api import serializers

PRESENCE_MAX_USERS = 200


class NotificationPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class NotificationListView(APIView):
    pagination = NotificationPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", int, description="1: only unread notifications"),
            OpenApiParameter("limit", int, description="page size, up to 200 (default 50)"),
            OpenApiParameter("cursor", str, description="from the previous page's `next`"),
        ],
        responses={200: serializers.NotificationSerializer(many=True)},
        description="Newest first, cursor-paginated: {next, previous, results}.",
    )
    def get(self, request):
        unread_only = request.query_params.get("unread") in ("1", "true")
        paginator = self.pagination()
        page = paginator.paginate_queryset(
            selectors.notifications_for(user=request.user, unread_only=unread_only), request, view=self
        )
        return paginator.get_paginated_response(serializers.NotificationSerializer(page, many=True).data)


class NotificationReadView(APIView):
    @extend_schema(request=serializers.MarkReadSerializer, responses={200: serializers.MarkedSerializer})
    def post(self, request):
        data = serializers.MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.notifications_mark_read(
            user=request.user, ids=data.validated_data.get("ids"), all=data.validated_data["all"]
        )
        return Response({"updated": updated, "unread": selectors.unread_notification_count(user_id=request.user.pk)})


class PresenceView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("users", str, description="comma-separated user ids", required=True)],
        responses={
            200: inline_serializer(
                "PresenceMap", {"<user id>": drf_serializers.DictField(child=drf_serializers.CharField())}
            )
        },
        description='{"1": {"status": "online"|"away"|"offline", "last_seen": time or null}, ...}',
    )
    def get(self, request):
        user_ids = id_list(request.query_params.get("users", ""), field="users", limit=PRESENCE_MAX_USERS)
        return Response(presence.presence_of(user_ids=user_ids))
