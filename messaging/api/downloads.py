"""Sending an attachment's bytes, after selectors.attachment_get_for_download said yes.

Three ways, by configuration, with the same headers:
- files on this machine (the embedded default): streamed in chunks, never read whole,
  with single-range `Range` support (206 / 416);
- with ATTACHMENT_X_ACCEL_PREFIX (behind the deployment's nginx): an empty answer with
  `X-Accel-Redirect`, and nginx sends the file (Range included) from an internal location;
- on S3: a 302 to a presigned URL valid for S3_PRESIGN_SECONDS, which carries the
  content type and disposition as response overrides.
"""

import mimetypes
import re
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.handlers.asgi import ASGIRequest
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from messaging.files import RASTER_IMAGE_TYPES
from messaging.models import Attachment

CHUNK_BYTES = 128 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=...`; None to send everything.

    A header we do not understand (several ranges, another unit) is ignored, as RFC 9110
    allows: the client gets the whole file with 200.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        length = int(last)
        if length == 0:
            raise Unsatisfiable
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise Unsatisfiable
    return start, min(end, size - 1)


def _chunks(fh, start: int, length: int) -> Iterator[bytes]:
    try:
        fh.seek(start)
        while length > 0:
            chunk = fh.read(min(CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        fh.close()


async def _achunks(fh, start: int, length: int) -> AsyncIterator[bytes]:
    # Under ASGI, Django buffers a *sync* iterator whole before sending (it lists it in a
    # thread); an async iterator is sent chunk by chunk, each read in a worker thread.
    read = sync_to_async(fh.read, thread_sensitive=False)
    try:
        await sync_to_async(fh.seek, thread_sensitive=False)(start)
        while length > 0:
            chunk = await read(min(CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        await sync_to_async(fh.close, thread_sensitive=False)()


def _content_type(attachment: Attachment, field: FieldFile, thumbnail: bool) -> str:
    if not thumbnail:
        return attachment.content_type
    return mimetypes.guess_type(field.name)[0] or "image/jpeg"


def serve(request: HttpRequest, attachment: Attachment, *, thumbnail: bool = False) -> HttpResponse:
    field = attachment.thumbnail if thumbnail else attachment.file
    content_type = _content_type(attachment, field, thumbnail)
    disposition = content_disposition_header(content_type not in RASTER_IMAGE_TYPES, attachment.name)
    storage = field.storage
    if not isinstance(storage, FileSystemStorage):
        url = storage.url(
            field.name,
            parameters={"ResponseContentType": content_type, "ResponseContentDisposition": disposition},
        )
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"  # the URL expires; ask again next time
        return response
    if settings.ATTACHMENT_X_ACCEL_PREFIX:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.ATTACHMENT_X_ACCEL_PREFIX + quote(field.name)
    else:
        response = _stream(request, storage, field.name, content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = disposition
    # The bytes behind an id never change; access may, so no shared caches.
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _stream(request: HttpRequest, storage: FileSystemStorage, name: str, content_type: str) -> HttpResponse:
    size = storage.size(name)
    try:
        wanted = parse_range(request.headers.get("Range"), size)
    except Unsatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = wanted or (0, size - 1)
    fh = storage.open(name, "rb")
    raw = getattr(request, "_request", request)
    content = (
        _achunks(fh, start, end - start + 1) if isinstance(raw, ASGIRequest) else _chunks(fh, start, end - start + 1)
    )
    response = StreamingHttpResponse(content, status=206 if wanted else 200, content_type=content_type)
    response._resource_closers.append(fh.close)  # also when the iterator never starts
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
