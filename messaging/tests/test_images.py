"""Image previews: location stripped from what others download, sizes, thumbnails by the real worker."""

import asyncio
import io
import json
import time

import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings
from PIL import Image

from accounts.tests.factories import access_token
from chatproject.testing import ServerProcess, WorkerProcess, database_url_for_tests
from conftest import needs_services
from messaging import images
from messaging import services as messaging
from messaging.models import Attachment
from messaging.tests.filesamples import png, upload
from testsupport.factories import create_room

GPS_IFD = 0x8825
ORIENTATION = 0x0112
MAKE = 0x010F


def gps_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "PhoneCam"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return exif


def photo(kind: str = "JPEG", size=(64, 48), **save) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    for x in range(0, size[0], 4):
        image.putpixel((x, x % size[1]), (0, 0, 255))
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def xmp_segment() -> bytes:
    payload = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><exif:GPSLatitude>48,51N</exif:GPSLatitude></x:xmpmeta>"
    return b"\xff\xe1" + len(payload + b"..").to_bytes(2, "big") + payload


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        return bool(exif.get_ifd(GPS_IFD)) or GPS_IFD in exif or b"GPSLatitude" in data


def strip(function, data: bytes) -> bytes:
    out = io.BytesIO()
    function(io.BytesIO(data), out)
    return out.getvalue()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


# --- stripping, format by format ------------------------------------------------------------------
def test_jpeg_loses_gps_xmp_and_camera_but_keeps_orientation_and_every_pixel():
    original = photo(exif=gps_exif(orientation=6).tobytes())
    original = original[:2] + xmp_segment() + original[2:]
    assert has_gps(original)
    cleaned = strip(images.strip_jpeg, original)
    assert not has_gps(cleaned)
    with Image.open(io.BytesIO(cleaned)) as image:
        exif = image.getexif()
        assert exif.get(ORIENTATION) == 6 and MAKE not in exif
    assert pixels(cleaned) == pixels(original)  # the scan data is copied, not re-encoded
    assert cleaned.endswith(original[-200:])


def test_png_and_webp_lose_their_exif():
    png_original = photo("PNG", exif=gps_exif().tobytes())
    assert has_gps(png_original)
    png_clean = strip(images.strip_png, png_original)
    assert not has_gps(png_clean) and pixels(png_clean) == pixels(png_original)

    webp_original = photo("WEBP", exif=gps_exif().tobytes(), lossless=True)
    assert has_gps(webp_original)
    webp_clean = strip(images.strip_webp, webp_original)
    assert not has_gps(webp_clean) and pixels(webp_clean) == pixels(webp_original)
    assert int.from_bytes(webp_clean[4:8], "little") == len(webp_clean) - 8


@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_a_damaged_jpeg_is_refused_not_stored_with_its_location(api, make_user):
    broken = photo(exif=gps_exif().tobytes())[:300]  # cut inside the EXIF segment
    response = api.as_user(make_user("alice")).post(
        "/api/v1/attachments/", {"file": upload("cut.jpg", broken)}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not Attachment.objects.exists()


# --- what the room downloads --------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.usefixtures("media_root")
def test_what_another_member_downloads_has_no_location(api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, name="trip", members=[bob])
    original = photo(size=(120, 80), exif=gps_exif().tobytes())
    uploaded = api.as_user(alice).post(
        "/api/v1/attachments/", {"file": upload("IMG_0001.jpg", original, "image/jpeg")}, format="multipart"
    )
    assert uploaded.status_code == 201, uploaded.content
    body = uploaded.json()
    assert (body["width"], body["height"]) == (120, 80)
    assert body["thumbnail_url"] is None  # the worker makes it
    assert body["size"] < len(original)
    messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[body["id"]])
    downloaded = b"".join(api.as_user(bob).get(body["url"]).streaming_content)
    assert len(downloaded) == body["size"]
    assert not has_gps(downloaded)
    assert pixels(downloaded) == pixels(original)


# --- thumbnails ---------------------------------------------------------------------------------
def test_thumbnails_of_each_raster_type_and_none_for_a_bomb(settings):
    for kind, extra in [("PNG", {}), ("JPEG", {}), ("GIF", {}), ("WEBP", {"lossless": True})]:
        data, extension = images.thumbnail(io.BytesIO(photo(kind, size=(1600, 900), **extra)))
        with Image.open(io.BytesIO(data)) as thumb:
            assert max(thumb.size) == settings.THUMBNAIL_SIZE and thumb.size[0] > thumb.size[1]
            assert thumb.format == {"jpg": "JPEG", "png": "PNG"}[extension]
    # Rotated by its EXIF orientation: a portrait photo stored sideways comes out upright.
    sideways = photo(size=(300, 100), exif=gps_exif(orientation=6).tobytes())
    with Image.open(io.BytesIO(images.thumbnail(io.BytesIO(sideways))[0])) as thumb:
        assert thumb.size[1] > thumb.size[0]
    settings.IMAGE_MAX_PIXELS = 1000 * 1000
    with pytest.raises(images.TooManyPixels):
        images.thumbnail(io.BytesIO(png(1001, 1000)))


def bomb_png(side: int = 20_000) -> bytes:
    """A PNG declaring side x side pixels (400 million at 20,000) in a few hundred kilobytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * side  # grey, 1 byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def shared_media(settings, tmp_path):
    """One VAR_DIR for this test process, the server and the worker: they share the files."""
    var = tmp_path / "var"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": var / "media"}},
    }
    return var


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
def test_the_worker_makes_thumbnails_the_room_hears_it_and_a_bomb_costs_it_nothing(make_user, shared_media, tmp_path):
    needs_services(postgres=True, redis=True)
    alice, bob = make_user("alice"), make_user("bob")
    room = create_room(alice, name="pics", members=[bob])
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "VAR_DIR": str(shared_media),
        "SECRET_KEY": settings.SECRET_KEY,  # another VAR_DIR would make another development key
    }

    bomb = messaging.attachment_upload(uploader=alice, file=upload("bomb.png", bomb_png()))
    assert bomb["width"] is None  # Pillow refuses even to read its size
    picture = messaging.attachment_upload(uploader=alice, file=upload("cat.png", photo("PNG", size=(900, 600))))
    assert (picture["width"], picture["height"]) == (900, 600)

    async def scenario(server: ServerProcess) -> dict:
        headers = {"Authorization": f"Bearer {access_token(bob)}"}
        async with websockets.connect(server.ws, additional_headers=headers) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
            await db(messaging.message_send)(sender=alice, room_id=room.pk, body="look", attachments=[picture["id"]])
            with WorkerProcess(env, log=tmp_path / "worker.log") as worker:
                async with asyncio.timeout(60):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["type"] == "message.updated":
                            break
                assert worker.alive()
            return frame

    with ServerProcess(env, log=tmp_path / "server.log") as server:
        updated = asyncio.run(scenario(server))
    shown = updated["message"]["attachments"][0]
    assert shown["id"] == picture["id"]
    assert shown["thumbnail_url"] == f"/api/v1/attachments/{picture['id']}/thumbnail/"
    assert (shown["width"], shown["height"]) == (900, 600)
    thumb = Attachment.objects.get(pk=picture["id"]).thumbnail
    with Image.open(thumb.open("rb")) as image:
        assert image.size == (400, 267)
    # The bomb got no thumbnail; both tasks finished (the worker survived it, and went on).
    assert not Attachment.objects.get(pk=bomb["id"]).thumbnail
    from django_tasks_db.models import DBTaskResult

    assert wait_for(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 2)
