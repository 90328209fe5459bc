"""Raster images: location metadata stripped at upload, sizes read, thumbnails made (by the worker).

Decision: metadata is stripped from the bytes *before they are stored*, so no path ever
serves the original (direct download, X-Accel-Redirect, S3 presigned URL, a backup of the
bucket). It is done without decoding or re-encoding the picture (the pixels stay exactly as
uploaded, and it costs a scan of the file's headers, not an image decode in the request):

- JPEG: the EXIF segment is replaced by one holding only the orientation (so phone photos
  stay upright); XMP and Photoshop/IPTC segments, which can also carry a location, go.
- PNG: eXIf and text chunks (where EXIF and XMP hide) go.
- WebP: the EXIF and XMP chunks go (and their flags in the VP8X header).
- GIF has no EXIF; it is stored as it is.

Thumbnails are made on the task queue (messaging/tasks.py). Pillow refuses to open images
of more than 2 x IMAGE_MAX_PIXELS; we refuse more than IMAGE_MAX_PIXELS ourselves from the
header, before decoding anything, so a decompression bomb gets no thumbnail and never costs
the worker its memory.
"""

import io
import struct
import tempfile
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from PIL import Image, ImageOps

from chatproject.errors import Invalid

Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS

ORIENTATION = 0x0112


@dataclass(frozen=True)
class Prepared:
    file: BinaryIO | None  # what to store instead of the upload (metadata stripped), or None: as it is
    size: int | None
    width: int | None
    height: int | None


class TooManyPixels(Exception):
    pass


def dimensions(file: BinaryIO) -> tuple[int, int] | None:
    """Width and height from the header (nothing is decoded); None if unreadable or a bomb."""
    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                return image.size
    except Exception:  # DecompressionBombError included: Pillow will not even open those
        return None
    finally:
        file.seek(0)


def prepare_upload(file: BinaryIO, content_type: str) -> Prepared:
    """What to store for an uploaded raster image (location metadata gone), with its size.

    Streams: holds one metadata segment at a time, never the whole picture. Invalid for an
    image too damaged to edit: better refused than stored with a location in it.
    """
    size = dimensions(file)
    width, height = size if size else (None, None)
    strip = {"image/jpeg": strip_jpeg, "image/png": strip_png, "image/webp": strip_webp}.get(content_type)
    if strip is None:
        return Prepared(None, None, width, height)
    out = tempfile.SpooledTemporaryFile(max_size=COPY_CHUNK)
    try:
        file.seek(0)
        strip(file, out)
    except (ValueError, struct.error):
        out.close()
        raise Invalid("This image is damaged and cannot be shared.") from None
    finally:
        file.seek(0)
    stored = out.tell()
    out.seek(0)
    return Prepared(out, stored, width, height)


COPY_CHUNK = 1024 * 1024


def _read(file: BinaryIO, n: int) -> bytes:
    data = file.read(n)
    if len(data) != n:
        raise ValueError("truncated image")
    return data


def _copy(src: BinaryIO, dst: BinaryIO, n: int | None = None) -> None:
    """Copies n bytes (or the rest) in chunks."""
    while n is None or n > 0:
        chunk = src.read(COPY_CHUNK if n is None else min(n, COPY_CHUNK))
        if not chunk:
            if n is not None:
                raise ValueError("truncated image")
            return
        dst.write(chunk)
        if n is not None:
            n -= len(chunk)


# --- JPEG ------------------------------------------------------------------------------------
_DROP_APP = {0xE1, 0xED}  # APP1 (EXIF, XMP), APP13 (Photoshop IRB / IPTC)


def _orientation(exif_payload: bytes) -> int | None:
    try:
        exif = Image.Exif()
        exif.load(exif_payload)
        value = exif.get(ORIENTATION)
        return int(value) if value in range(2, 9) else None  # 1 is upright anyway
    except Exception:
        return None


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    payload = exif.tobytes()  # b"Exif\0\0" + a TIFF holding IFD0 with one entry
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def strip_jpeg(src: BinaryIO, dst: BinaryIO) -> None:
    """The JPEG without EXIF (but its orientation), XMP and IPTC segments; scan data copied as is."""
    if src.read(2) != b"\xff\xd8":
        raise ValueError("not a JPEG")
    dst.write(b"\xff\xd8")
    orientation, inserted = None, False
    while True:
        byte = _read(src, 1)
        if byte != b"\xff":
            raise ValueError("bad JPEG marker")
        marker = _read(src, 1)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read(src, 1)[0]
        if marker == 0xD9:
            raise ValueError("JPEG without image data")
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            dst.write(bytes([0xFF, marker]))
            continue
        (length,) = struct.unpack(">H", _read(src, 2))
        if length < 2:
            raise ValueError("bad JPEG segment")
        payload = _read(src, length - 2)
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            orientation = orientation or _orientation(payload)
        if marker in _DROP_APP:
            continue
        if orientation and not inserted and not (0xE0 <= marker <= 0xEF):
            # Our EXIF goes after the APPn segments that stay (JFIF, ICC), before the tables.
            dst.write(_orientation_segment(orientation))
            inserted = True
        dst.write(bytes([0xFF, marker]) + struct.pack(">H", length) + payload)
        if marker == 0xDA:  # start of scan: the rest is image data
            _copy(src, dst)
            return


# --- PNG -------------------------------------------------------------------------------------
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt"}


def strip_png(src: BinaryIO, dst: BinaryIO) -> None:
    if src.read(8) != _PNG_SIGNATURE:
        raise ValueError("not a PNG")
    dst.write(_PNG_SIGNATURE)
    while True:
        header = _read(src, 8)
        (length,) = struct.unpack(">I", header[:4])
        kind = header[4:]
        if kind in _PNG_DROP:
            src.seek(length + 4, io.SEEK_CUR)  # data and CRC
        else:
            dst.write(header)
            _copy(src, dst, length + 4)
        if kind == b"IEND":
            return


# --- WebP ------------------------------------------------------------------------------------
_WEBP_DROP = {b"EXIF", b"XMP "}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def strip_webp(src: BinaryIO, dst: BinaryIO) -> None:
    head = src.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    (riff_size,) = struct.unpack("<I", head[4:8])
    end = 8 + riff_size
    dst.write(head)
    written = 4  # "WEBP"
    while src.tell() < end:
        header = _read(src, 8)
        kind = header[:4]
        (length,) = struct.unpack("<I", header[4:])
        padded = length + (length & 1)  # chunks are padded to even sizes
        if kind in _WEBP_DROP:
            src.seek(padded, io.SEEK_CUR)
            continue
        dst.write(header)
        if kind == b"VP8X":
            body = bytearray(_read(src, padded))
            body[0] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
            dst.write(body)
        else:
            _copy(src, dst, padded)
        written += 8 + padded
    dst.seek(4)
    dst.write(struct.pack("<I", written))
    dst.seek(0, io.SEEK_END)


# --- thumbnails ------------------------------------------------------------------------------
def thumbnail(file: BinaryIO) -> tuple[bytes, str]:
    """A thumbnail (at most THUMBNAIL_SIZE on its longer side, upright) as (bytes, extension).

    Raises TooManyPixels before decoding an image larger than IMAGE_MAX_PIXELS.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(file)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
            raise TooManyPixels(str(bomb)) from None
        with image:
            width, height = image.size
            if width * height > settings.IMAGE_MAX_PIXELS:
                raise TooManyPixels(f"{width}x{height} is more than {settings.IMAGE_MAX_PIXELS} pixels")
            image.seek(0)  # an animation's first frame
            # draft() lets JPEG decode at a fraction of the size: far less memory and time.
            image.draft("RGB", (settings.THUMBNAIL_SIZE * 2, settings.THUMBNAIL_SIZE * 2))
            image = ImageOps.exif_transpose(image)
            image.thumbnail((settings.THUMBNAIL_SIZE, settings.THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
            transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            out = io.BytesIO()
            if transparent:
                image.convert("RGBA").save(out, "PNG", optimize=True)
                return out.getvalue(), "png"
            image.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
            return out.getvalue(), "jpg"
