from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE, error_response
from chatproject.errors import FieldErrors
from chatproject.ids import MAX_ID, int_param
from chatproject.metrics import MESSAGES_SENT
from messaging import search, selectors, services
from messaging.api.serializers import (
    MessageEditSerializer,
    MessagePageSerializer,
    MessageReceiptSerializer,
    MessageSearchPageSerializer,
    MessageSendSerializer,
    MessageSerializer,
)

SEQ = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class RoomMessagesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", SEQ, description="only messages with a smaller seq (older page)"),
            OpenApiParameter("after", SEQ, description="only messages with a larger seq (catch-up)"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 200},
                description="page size, 1 to 200 (default 50)",
            ),
            OpenApiParameter(
                "around",
                SEQ,
                description="a page centred on this seq (to open a search result in context); not with "
                "before/after. The answer then also has has_more_before and has_more_after.",
            ),
        ],
        responses={200: MessagePageSerializer},
    )
    def get(self, request, room_id: int):
        params = request.query_params
        if params.get("around") not in (None, ""):
            if any(params.get(name) not in (None, "") for name in ("before", "after")):
                raise FieldErrors({"around": ["Not together with before or after."]})
            results, has_before, has_after = selectors.message_history_around(
                user=request.user, room_id=room_id, around=params.get("around"), limit=params.get("limit")
            )
            return Response(
                {
                    "results": results,
                    "has_more": has_before or has_after,
                    "has_more_before": has_before,
                    "has_more_after": has_after,
                }
            )
        results, has_more = selectors.message_history(
            user=request.user,
            room_id=room_id,
            before=params.get("before"),
            after=params.get("after"),
            limit=params.get("limit"),
        )
        return Response({"results": results, "has_more": has_more})

    @extend_schema(
        request=MessageSendSerializer,
        responses={
            201: MessageSerializer,
            200: MessageSerializer,
            403: error_response("`permission_denied`: the caller is not a member of this (public) room"),
            429: THROTTLED_RESPONSE,
        },
        parameters=[RETRY_AFTER],
        description="201 with the new message; the same client_id again answers 200 with the same message. "
        "Sends are rate-limited per user, REST and WebSocket together: 429 stores nothing.",
    )
    def post(self, request, room_id: int):
        data = MessageSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        result = services.message_send(
            sender=request.user,
            room_id=room_id,
            body=fields.get("body"),
            client_id=fields.get("client_id"),
            reply_to=fields.get("reply_to"),
            attachments=fields.get("attachments"),
        )
        if result.created:  # a resend of the same client_id is not a second message
            MESSAGES_SENT.labels("rest").inc()
        return Response(result.data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class MessageDetailView(APIView):
    http_method_names = ["patch", "delete", "options"]

    @extend_schema(
        request=MessageEditSerializer,
        responses={200: MessageSerializer, 403: error_response("`permission_denied`: only the author edits")},
    )
    def patch(self, request, message_id: int):
        data = MessageEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            services.message_edit(actor=request.user, message_id=message_id, body=data.validated_data["body"])
        )

    @extend_schema(
        responses={
            204: None,
            403: error_response("`permission_denied`: only the author, a room owner or admin, or a moderator"),
        }
    )
    def delete(self, request, message_id: int):
        services.message_delete(actor=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageReceiptsView(APIView):
    @extend_schema(responses={200: MessageReceiptSerializer(many=True)})
    def get(self, request, message_id: int):
        return Response(selectors.message_receipts(user=request.user, message_id=message_id))


class MessageSearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "pattern": r"\S", "maxLength": 200},
                required=True,
                description="words to find (prefixes match)",
            ),
            OpenApiParameter("room", ID, description="only this room"),
            OpenApiParameter("cursor", str, description="`next_cursor` of the previous page: the results after it"),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 50}, description="page size, 1 to 50 (default 20)"
            ),
            RETRY_AFTER,
        ],
        responses={200: MessageSearchPageSerializer, 429: THROTTLED_RESPONSE},
        description="Matches in rooms the caller belongs to, best first, then newest first. `snippet` is "
        "HTML-escaped text with each match in <mark>…</mark>. More results: pass `next_cursor` back as `cursor`.",
    )
    def get(self, request):
        params = request.query_params
        room_id = int_param(params.get("room"), field="room", minimum=1, required=False)
        return Response(
            search.message_search(
                user=request.user,
                q=params.get("q", ""),
                room_id=room_id,
                cursor=params.get("cursor"),
                limit=params.get("limit"),
            )
        )
