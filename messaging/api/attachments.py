"""The attachments door: upload (multipart) and the two download URLs of an attachment object."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chatproject.api import RETRY_AFTER, THROTTLED_RESPONSE
from chatproject.errors import FieldErrors
from messaging import selectors, services
from messaging.api import downloads
from messaging.api.serializers import AttachmentSerializer, AttachmentUploadSerializer
from messaging.files import SizeLimitUploadHandler


class AttachmentUploadView(APIView):
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (authentication's CSRF check parses it too).
        request.upload_handlers.insert(0, SizeLimitUploadHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        request=AttachmentUploadSerializer,
        responses={
            201: AttachmentSerializer,
            400: OpenApiResponse(description="`invalid`: empty file, or a type that may not be shared"),
            413: OpenApiResponse(description="`too_large`: over ATTACHMENT_MAX_BYTES, or the uploader's quota"),
            429: THROTTLED_RESPONSE,
        },
        parameters=[RETRY_AFTER],
        description="Uploads a file for use in a message (`attachments: [id]` when sending). The stored "
        "`content_type` is sniffed from the bytes; `name` is the client's file name without path or control "
        "characters. Until it is used in a message, only the uploader can see or use it.",
    )
    def post(self, request):
        file = request.FILES.get("file")
        if file is None:
            raise FieldErrors({"file": ["Send the file as the multipart field `file`."]})
        data = services.attachment_upload(uploader=request.user, file=file)
        return Response(data, status=status.HTTP_201_CREATED)


class AttachmentFileView(APIView):
    """The bytes, to the uploader and the members of the message's room; 404 to anyone else."""

    thumbnail = False

    def perform_content_negotiation(self, request, force=False):
        # Browsers ask for images with `Accept: image/*`; the answer is the file whatever it asks.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="the bytes (206 for a `Range`)"),
            302: OpenApiResponse(description="with S3 storage: a short-lived presigned URL"),
            404: OpenApiResponse(description="no such attachment for the caller, or its message was deleted"),
            416: OpenApiResponse(description="the `Range` lies outside the file"),
        },
    )
    def get(self, request, attachment_id: int):
        attachment = selectors.attachment_get_for_download(
            user=request.user, attachment_id=attachment_id, thumbnail=self.thumbnail
        )
        return downloads.serve(request, attachment, thumbnail=self.thumbnail)


class AttachmentThumbnailView(AttachmentFileView):
    thumbnail = True
