"""POST /api/v1/attachments/: type sniffing, names, size limit, quota."""

import pytest

from messaging.files import SizeLimitUploadHandler, clean_name
from messaging.models import Attachment
from messaging.tests.filesamples import (
    ELF,
    GIF_WITH_SCRIPT,
    HTML,
    HTML_WITH_PDF,
    PDF,
    SVG,
    TEXT,
    png,
    upload,
    zip_bytes,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

URL = "/api/v1/attachments/"
ATTACHMENT_KEYS = {"id", "name", "size", "content_type", "url", "thumbnail_url", "width", "height"}


def post(api, user, name, content, content_type="application/octet-stream"):
    return api.as_user(user).post(URL, {"file": upload(name, content, content_type)}, format="multipart")


@pytest.mark.parametrize(
    "name,content,claimed,stored",
    [
        ("photo.png", png(), "image/png", "image/png"),
        ("notes.txt", png(), "text/plain", "image/png"),  # a PNG named .txt is a PNG
        ("report.pdf", PDF, "application/pdf", "application/pdf"),
        ("minutes.txt", TEXT, "text/plain", "text/plain"),
        ("archive.zip", zip_bytes(), "application/zip", "application/zip"),
        ("script.py", b"#!/usr/bin/env python3\nprint('hi')\n", "text/x-python", "text/plain"),
        ("cat.gif", GIF_WITH_SCRIPT, "image/gif", "image/gif"),  # polyglot: stored as what it starts as
    ],
)
def test_the_stored_type_is_what_the_bytes_are(api, make_user, name, content, claimed, stored):
    alice = make_user("alice")
    response = post(api, alice, name, content, claimed)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ATTACHMENT_KEYS
    assert body["content_type"] == stored
    assert body["size"] == len(content)
    assert body["name"] == name
    assert body["url"] == f"/api/v1/attachments/{body['id']}/download/"
    assert body["thumbnail_url"] is None
    stored_row = Attachment.objects.get(pk=body["id"])
    assert stored_row.uploader == alice and stored_row.message is None
    assert stored_row.file.read() == content


@pytest.mark.parametrize(
    "name,content",
    [
        ("page.png", HTML),  # HTML named .png
        ("page.html", HTML),
        ("logo.svg", SVG),
        ("doc.pdf", HTML_WITH_PDF),  # polyglot: libmagic sees a PDF, a browser would see HTML
        ("tool.jpg", ELF),  # a program
        ("data.bin", bytes(range(256)) * 8),  # nothing we know
    ],
)
def test_refused_types_answer_400_and_store_nothing(api, make_user, media_root, name, content):
    response = post(api, make_user("alice"), name, content, "image/png")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert Attachment.objects.count() == 0
    assert not any(p.is_file() for p in media_root.rglob("*"))


def test_empty_file_is_invalid(api, make_user):
    response = post(api, make_user("alice"), "empty.txt", b"")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_missing_file_field_is_a_field_error(api, make_user):
    response = api.as_user(make_user("alice")).post(URL, {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()


def test_anonymous_upload_is_refused(api):
    response = api.post(URL, {"file": upload("a.png", png())}, format="multipart")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "raw,clean",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\bob\\Desktop\\plan.pdf", "plan.pdf"),
        ("re\x00port\n.pdf", "re port .pdf"),
        ("invoice\u202egpj.exe", "invoice gpj.exe"),  # a bidi override that would show "exe.jpg"
        ("   ", "file"),
        ("..", "file"),
        ("Café au lait.jpg", "Café au lait.jpg"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_names_are_cleaned(raw, clean):
    assert clean_name(raw) == clean


def test_the_cleaned_name_is_stored_and_the_storage_path_is_not_the_name(api, make_user):
    response = post(api, make_user("alice"), "../../secret/photo.png", png())
    assert response.json()["name"] == "photo.png"
    stored = Attachment.objects.get().file.name
    assert "photo" not in stored and ".." not in stored and stored.startswith("attachments/")


def test_over_the_size_limit_is_413(api, make_user, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    alice = make_user("alice")
    response = post(api, alice, "big.txt", b"a" * 1001)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert post(api, alice, "fits.txt", b"a" * 1000).status_code == 201


def test_the_upload_handler_stops_reading_at_the_limit(settings):
    """Bytes read stay within the limit plus one chunk, however much the client sends."""
    from chatproject.errors import TooLarge

    settings.ATTACHMENT_MAX_BYTES = 256 * 1024
    handler = SizeLimitUploadHandler()
    handler.handle_raw_input(None, {}, None, b"x")  # no Content-Length declared (chunked)
    chunk = b"a" * handler.chunk_size
    sent = 0
    with pytest.raises(TooLarge):
        for _ in range(100):  # the client would send 6.4 MiB
            sent += len(chunk)
            handler.receive_data_chunk(chunk, sent - len(chunk))
    assert handler.received <= settings.ATTACHMENT_MAX_BYTES + handler.chunk_size
    assert sent < 100 * len(chunk)


def test_a_declared_length_over_the_limit_is_refused_before_reading(settings):
    from chatproject.errors import TooLarge

    settings.ATTACHMENT_MAX_BYTES = 1000

    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

    with pytest.raises(TooLarge):
        SizeLimitUploadHandler().handle_raw_input(Unreadable(), {}, 10_000_000, b"x")


def test_quota_counts_the_uploaders_files_only(api, make_user, settings):
    settings.ATTACHMENT_QUOTA_BYTES = 2500
    alice, bob = make_user("alice"), make_user("bob")
    assert post(api, alice, "a.txt", b"a" * 1000).status_code == 201
    assert post(api, alice, "b.txt", b"b" * 1000).status_code == 201
    refused = post(api, alice, "c.txt", b"c" * 1000)
    assert refused.status_code == 413
    assert refused.json()["code"] == "too_large"
    assert "quota" in refused.json()["detail"]
    assert post(api, bob, "d.txt", b"d" * 1000).status_code == 201  # bob's allowance is his own
    assert Attachment.objects.filter(uploader=alice).count() == 2


def test_removed_files_no_longer_count_against_the_quota(api, make_user, settings):
    from django.utils import timezone

    settings.ATTACHMENT_QUOTA_BYTES = 1500
    alice = make_user("alice")
    first = post(api, alice, "a.txt", b"a" * 1000).json()
    assert post(api, alice, "b.txt", b"b" * 1000).status_code == 413
    Attachment.objects.filter(pk=first["id"]).update(removed_at=timezone.now())
    assert post(api, alice, "b.txt", b"b" * 1000).status_code == 201


def test_the_openapi_schema_describes_uploads_and_attachment_objects(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    upload_op = schema["paths"]["/api/v1/attachments/"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert {"201", "400", "413"} <= set(upload_op["responses"])
    assert set(schema["components"]["schemas"]["Attachment"]["properties"]) == ATTACHMENT_KEYS
    message = schema["components"]["schemas"]["Message"]["properties"]["attachments"]
    assert message["items"] == {"$ref": "#/components/schemas/Attachment"}
    download = schema["paths"]["/api/v1/attachments/{attachment_id}/download/"]["get"]
    assert {"200", "302", "404", "416"} <= set(download["responses"])
