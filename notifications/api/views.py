from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import error_response
from chatproject.errors import FieldErrors
from chatproject.ids import MAX_ID, id_list, int_param
from notifications import presence, selectors, services
from notifications.api import serializers

PRESENCE_MAX_USERS = 200
# `1` as the contract says; `true` was always read as well, so clients may send it.
UNREAD_VALUES = {"0": False, "1": True, "false": False, "true": True}
# Keyed by user id (as a string): a map, which no serializer describes.
PRESENCE_MAP = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["online", "away", "offline"]},
            "last_seen": {"type": "string", "nullable": True},
        },
        "required": ["status", "last_seen"],
    },
}


class NotificationPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        # DRF reads a bad `limit` (0, -1, "x") as the default; refused instead, like every other limit.
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        return min(int_param(raw, field="limit", minimum=1), self.max_page_size)


class NotificationListView(APIView):
    pagination = NotificationPagination

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unread", {"type": "string", "enum": list(UNREAD_VALUES)}, description="1: only unread notifications"
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                description="page size, up to 200 (default 50; more: 200)",
            ),
            OpenApiParameter("cursor", str, description="from the previous page's `next`"),
        ],
        responses={
            200: serializers.NotificationPageSerializer,
            404: error_response("`not_found`: a `cursor` that no page gave"),
        },
        description="Newest first, cursor-paginated: {next, previous, results}.",
    )
    def get(self, request):
        unread = request.query_params.get("unread") or "0"
        if unread not in UNREAD_VALUES:
            raise FieldErrors({"unread": ["Must be 1 (only unread) or 0."]})
        unread_only = UNREAD_VALUES[unread]
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
        parameters=[
            OpenApiParameter(
                "users",
                # Ids from 1 up (at most 18 digits here, well inside a bigint), 1 to 200 of them.
                {
                    "type": "string",
                    "pattern": f"^[1-9][0-9]{{0,17}}(,[1-9][0-9]{{0,17}}){{0,{PRESENCE_MAX_USERS - 1}}}$",
                },
                description="comma-separated user ids",
                required=True,
            )
        ],
        responses={200: OpenApiResponse(PRESENCE_MAP, description="each asked-for user id -> its presence")},
        description='{"1": {"status": "online"|"away"|"offline", "last_seen": time or null}, ...}',
    )
    def get(self, request):
        user_ids = id_list(request.query_params.get("users", ""), field="users", limit=PRESENCE_MAX_USERS)
        return Response(presence.presence_of(user_ids=user_ids))
