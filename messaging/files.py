"""What an uploaded file is and what it may be called: type sniffing, name cleaning, size limit.

The stored type comes from the bytes (libmagic, through python-magic), never from the
client's Content-Type or the file name. Only the types below are accepted; markup a
browser would run (HTML, SVG, XML) and programs are refused, whatever they are named.
"""

import re
import secrets
import unicodedata

import magic
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from chatproject.errors import Invalid, TooLarge

# Raster images are shown inline (and get thumbnails); everything else is a download.
RASTER_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

ALLOWED_TYPES = RASTER_IMAGE_TYPES | {
    "image/bmp",
    "image/tiff",
    "image/heic",
    "image/heif",
    "image/avif",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.ms-office",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "text/plain",
    "text/csv",
    "application/json",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/x-7z-compressed",
    "audio/mpeg",
    "audio/ogg",
    "audio/wav",
    "audio/flac",
    "audio/mp4",
    "audio/aac",
    "audio/webm",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "video/x-matroska",
    "video/ogg",
    "video/3gpp",
}

# libmagic's names for the same types.
_ALIASES = {
    "image/x-ms-bmp": "image/bmp",
    "audio/x-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "audio/x-hx-aac-adts": "audio/aac",
    "application/x-gzip": "application/gzip",
    "text/rtf": "application/rtf",
    "application/x-matroska": "video/x-matroska",
}

# Text a browser would render as a document and run scripts in. Other text (source code,
# logs, Markdown) is stored as text/plain.
_ACTIVE_TEXT = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/x-php"}
)

# The WHATWG MIME sniffing signatures of HTML and XML at the start of a file (after
# whitespace): a file that begins like this is refused even when libmagic finds another
# type further in (an HTML page carrying a PDF, say), because some browser might sniff it.
_MARKUP_START = re.compile(
    rb"^[\t\n\x0c\r ]*(?:<\?xml|<svg|<!--|<!doctype\s+html"
    rb"|<(?:html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p)[\s>])",
    re.IGNORECASE,
)

SNIFF_BYTES = 1024 * 1024  # what libmagic looks at (its own default read limit)


def sniff_content_type(head: bytes) -> str:
    """The stored type of a file that starts with `head`; Invalid if it may not be shared."""
    if _MARKUP_START.match(head[:1024]):
        raise Invalid("Web pages, SVG and XML files cannot be shared (they could run scripts).")
    detected = magic.from_buffer(head, mime=True)
    detected = _ALIASES.get(detected, detected)
    if detected in ALLOWED_TYPES:
        return detected
    if detected in _ACTIVE_TEXT:
        raise Invalid("Web pages, SVG and XML files cannot be shared (they could run scripts).")
    if detected.startswith("text/") or detected in {"application/javascript", "application/x-ndjson"}:
        return "text/plain"
    raise Invalid(f"Files of this type ({detected}) cannot be shared.")


_CONTROL = {"Cc", "Cf", "Zl", "Zp"}  # Cf: bidi overrides that make "gpj.exe" read "exe.jpg"
NAME_MAX = 200


def clean_name(raw: str | None) -> str:
    """The client's file name without any directory part or control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(" " if unicodedata.category(ch) in _CONTROL else ch for ch in name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        return "file"
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: NAME_MAX - len(ext) - 1] + "." + ext
        else:
            name = name[:NAME_MAX]
    return name


def storage_name() -> str:
    """A fresh, unguessable storage path; nothing of the client's name goes to disk or S3."""
    token = secrets.token_hex(16)
    return f"attachments/{token[:2]}/{token}"


def read_head(file: UploadedFile) -> bytes:
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return head


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def too_large() -> TooLarge:
    return TooLarge(f"The file is larger than the limit of {human_size(settings.ATTACHMENT_MAX_BYTES)}.")


# Room for the multipart framing around the file: boundaries and part headers.
MULTIPART_OVERHEAD = 64 * 1024


def upload_body_limit() -> int:
    """The largest upload request body worth reading: the file limit plus multipart framing."""
    return settings.ATTACHMENT_MAX_BYTES + MULTIPART_OVERHEAD


class SizeLimitUploadHandler(FileUploadHandler):
    """First of the upload handlers: stops reading once a file passes ATTACHMENT_MAX_BYTES.

    It refuses a declared Content-Length over the limit before reading anything, and
    otherwise counts the bytes as they stream through to the next handlers (memory for
    small files, a temporary file for large ones), so no more than the limit plus one
    chunk is ever read. Raising TooLarge leaves the rest of the body unread; DRF's error
    handler answers 413 and the temporary file is deleted with the request.
    """

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = settings.ATTACHMENT_MAX_BYTES
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > upload_body_limit():
            raise too_large()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise too_large()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file
