"""Downloads: one access rule on every path (streamed, X-Accel-Redirect, S3 presigned), headers, Range."""

import urllib.request

import pytest
from django.test import Client

from messaging import services as messaging
from messaging.models import Attachment
from messaging.tests.filesamples import PDF, png, upload
from rooms import services as rooms
from testsupport.factories import create_room

pytestmark = pytest.mark.django_db


def zip_of(data: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("clip.bin", data)
    return buffer.getvalue()


BLOB = zip_of(bytes(range(256)) * 2000)  # half a megabyte, stored uncompressed


def uploaded(user, name, content) -> dict:
    return messaging.attachment_upload(uploader=user, file=upload(name, content))


class Scene:
    """alice sends a photo and a PDF to a private room with bob; dave was removed, carol never joined."""

    def __init__(self, make_user):
        self.alice, self.bob, self.carol, self.dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
        self.room = create_room(self.alice, kind="private", members=[self.bob, self.dave])
        rooms.member_remove(actor=self.alice, room_id=self.room.pk, user_id=self.dave.pk)
        self.photo = uploaded(self.alice, "photo.png", png(3, 2))
        self.pdf = uploaded(self.alice, "Q3 report.pdf", PDF)
        self.message = messaging.message_send(
            sender=self.alice, room_id=self.room.pk, body="", attachments=[self.photo["id"], self.pdf["id"]]
        ).message
        self.unused = uploaded(self.alice, "draft.pdf", PDF)


def fetch(api, scene, relation: str, url: str, **headers):
    if relation == "member_by_cookie":
        client = Client()
        client.force_login(scene.bob)
        return client.get(url, headers=headers)
    user = {"uploader": scene.alice, "member": scene.bob, "outsider": scene.carol, "removed_member": scene.dave}
    return api.as_user(user.get(relation)).get(url, headers=headers)


# relation -> status for an attachment of a message, and for an upload not used yet.
MATRIX = {
    "uploader": (200, 200),
    "member": (200, 404),
    "member_by_cookie": (200, 404),
    "outsider": (404, 404),
    "removed_member": (404, 404),
    "anonymous": (401, 401),
}


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def check_allowed(response, path: str, content: bytes, content_type: str):
    if path == "s3":
        assert response.status_code == 302
        with urllib.request.urlopen(response["Location"], timeout=10) as s3:  # the presigned URL, fetched
            assert s3.read() == content
            assert s3.headers["Content-Type"] == content_type
            return s3.headers
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    if path == "x_accel":
        assert response["X-Accel-Redirect"].startswith("/_attachments/attachments/")
        assert body_of(response) == b""
    else:
        assert body_of(response) == content
    return response


@pytest.fixture(params=["stream", "x_accel", "s3"])
def path(request, settings):
    if request.param == "s3":
        request.getfixturevalue("s3_bucket")
    else:
        request.getfixturevalue("media_root")
    if request.param == "x_accel":
        settings.ATTACHMENT_X_ACCEL_PREFIX = "/_attachments/"
    return request.param


@pytest.mark.parametrize("relation", MATRIX)
def test_access_matrix(api, make_user, path, relation):
    scene = Scene(make_user)
    in_message, unused = MATRIX[relation]
    response = fetch(api, scene, relation, scene.pdf["url"])
    if in_message == 200:
        headers = check_allowed(response, path, PDF, "application/pdf")
        assert headers["Content-Disposition"].startswith("attachment;")
    else:
        assert response.status_code == in_message
    response = fetch(api, scene, relation, scene.unused["url"])
    if unused == 200:
        check_allowed(response, path, PDF, "application/pdf")
    else:
        assert response.status_code == unused


@pytest.mark.parametrize("relation", ["uploader", "member"])
def test_nothing_after_the_message_is_deleted(api, make_user, path, relation):
    scene = Scene(make_user)
    messaging.message_delete(actor=scene.alice, message_id=scene.message.pk)
    for attachment in (scene.photo, scene.pdf):
        assert fetch(api, scene, relation, attachment["url"]).status_code == 404


def test_raster_images_are_inline_everything_else_a_download(api, make_user, path):
    scene = Scene(make_user)
    photo = check_allowed(fetch(api, scene, "member", scene.photo["url"]), path, png(3, 2), "image/png")
    assert photo["Content-Disposition"] == 'inline; filename="photo.png"'
    pdf = check_allowed(fetch(api, scene, "member", scene.pdf["url"]), path, PDF, "application/pdf")
    assert pdf["Content-Disposition"] == 'attachment; filename="Q3 report.pdf"'


def test_a_thumbnail_follows_the_same_rule(api, make_user, media_root):
    from django.core.files.base import ContentFile

    scene = Scene(make_user)
    assert fetch(api, scene, "member", f"/api/v1/attachments/{scene.photo['id']}/thumbnail/").status_code == 404
    attachment = Attachment.objects.get(pk=scene.photo["id"])
    attachment.thumbnail.save("thumbnails/t1.png", ContentFile(png(1, 1)))
    url = f"/api/v1/attachments/{attachment.pk}/thumbnail/"
    history = api.as_user(scene.bob).get(f"/api/v1/rooms/{scene.room.pk}/messages/").json()["results"]
    assert history[-1]["attachments"][0]["thumbnail_url"] == url
    for relation in ("uploader", "member", "member_by_cookie"):
        response = fetch(api, scene, relation, url)
        assert response.status_code == 200 and body_of(response) == png(1, 1)
    for relation in ("outsider", "removed_member"):
        assert fetch(api, scene, relation, url).status_code == 404


def test_accept_header_does_not_matter(api, make_user, media_root):
    scene = Scene(make_user)
    response = api.as_user(scene.bob).get(scene.photo["url"], HTTP_ACCEPT="image/avif,image/webp")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header,status,first,last",
    [
        ("bytes=0-99", 206, 0, 99),
        ("bytes=1000-", 206, 1000, len(BLOB) - 1),
        ("bytes=-500", 206, len(BLOB) - 500, len(BLOB) - 1),
        ("bytes=500000-999999999", 206, 500000, len(BLOB) - 1),
        ("bytes=0-1,5-6", 200, 0, len(BLOB) - 1),  # several ranges: the whole file
        ("pages=1", 200, 0, len(BLOB) - 1),
    ],
)
def test_range_requests(api, make_user, media_root, settings, header, status, first, last):
    alice = make_user("alice")
    blob = BLOB
    attachment = uploaded(alice, "video.zip", blob)
    response = api.as_user(alice).get(attachment["url"], HTTP_RANGE=header)
    assert response.status_code == status
    assert response["Accept-Ranges"] == "bytes"
    assert body_of(response) == blob[first : last + 1]
    assert response["Content-Length"] == str(last - first + 1)
    if status == 206:
        assert response["Content-Range"] == f"bytes {first}-{last}/{len(blob)}"


@pytest.mark.parametrize("header", ["bytes=999999999-", "bytes=-0", "bytes=10-5"])
def test_unsatisfiable_range_is_416(api, make_user, media_root, header):
    alice = make_user("alice")
    attachment = uploaded(alice, "a.pdf", PDF)
    response = api.as_user(alice).get(attachment["url"], HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(PDF)}"


def test_uploads_go_to_the_bucket_on_s3(api, make_user, s3_bucket):
    client, bucket = s3_bucket
    alice = make_user("alice")
    response = api.as_user(alice).post("/api/v1/attachments/", {"file": upload("a.png", png())}, format="multipart")
    assert response.status_code == 201
    name = Attachment.objects.get(pk=response.json()["id"]).file.name
    assert client.get_object(Bucket=bucket, Key=name)["Body"].read() == png()


def test_files_are_not_served_by_the_static_or_media_urls(api, make_user, media_root, client):
    alice = make_user("alice")
    uploaded(alice, "a.pdf", PDF)
    name = Attachment.objects.get().file.name
    for url in (f"/media/{name}", f"/static/{name}", f"/static/../media/{name}"):
        assert client.get(url).status_code == 404
