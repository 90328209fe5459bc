"""The X-Accel-Redirect path for real: uvicorn checks access, Debian's nginx sends the bytes.

The cluster of deploy/cluster.py (the deployment's nginx configuration, production
server, ATTACHMENT_X_ACCEL_PREFIX=/_attachments/), with every request going to nginx.
"""

import json
import secrets
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from accounts.tests.factories import access_token
from chatproject.testing import database_url_for_tests
from conftest import needs_services
from deploy.cluster import NGINX, Cluster
from messaging import services as messaging
from messaging.tests.filesamples import PDF, png
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def cluster(django_db_setup, tmp_path_factory):
    needs_services(postgres=True, redis=True)
    import os

    if not os.path.exists(NGINX):
        pytest.fail(f"nginx not found at {NGINX} (Debian's nginx package)")
    base = tmp_path_factory.mktemp("xaccel")
    env = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_PREFIX": settings.CACHE_PREFIX,
        "VAR_DIR": str(base / "var"),
        "SECRET_KEY": settings.SECRET_KEY,
        "THROTTLE_DISABLED": "1",
    }
    with Cluster(processes=1, run_dir=base / "run", env=env) as running:
        yield running


def call(cluster, method: str, path: str, user=None, body: bytes | None = None, headers=None):
    request = urllib.request.Request(cluster.url + path, data=body, method=method, headers=dict(headers or {}))
    if user is not None:
        request.add_header("Authorization", f"Bearer {access_token(user)}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def upload(cluster, user, name: str, content: bytes) -> dict:
    boundary = secrets.token_hex(12)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, data = call(
        cluster,
        "POST",
        "/api/v1/attachments/",
        user,
        body,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 201, data
    return json.loads(data)


def test_nginx_sends_the_file_after_the_server_said_yes(cluster, make_user):
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room = rooms.room_create(creator=alice, name="team", kind="private")
    rooms.member_add(actor=alice, room_id=room.pk, user_id=bob.pk)
    photo, report = upload(cluster, alice, "photo.png", png(5, 5)), upload(cluster, alice, "report.pdf", PDF)
    messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[photo["id"], report["id"]])

    for user in (alice, bob):
        status, headers, data = call(cluster, "GET", report["url"], user)
        assert (status, data) == (200, PDF)
        assert headers["Content-Type"] == "application/pdf"
        assert headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Accel-Redirect" not in headers  # nginx consumed it
    status, headers, data = call(cluster, "GET", photo["url"], bob)
    assert (status, data, headers["Content-Type"]) == (200, png(5, 5), "image/png")
    assert headers["Content-Disposition"].startswith("inline")
    # Range is nginx's job on this path.
    status, headers, data = call(cluster, "GET", report["url"], bob, headers={"Range": "bytes=0-3"})
    assert (status, data, headers["Content-Range"]) == (206, PDF[:4], f"bytes 0-3/{len(PDF)}")

    assert call(cluster, "GET", report["url"], carol)[0] == 404
    assert call(cluster, "GET", report["url"])[0] == 401
    # The internal location cannot be asked for directly.
    from messaging.models import Attachment

    name = Attachment.objects.get(pk=report["id"]).file.name
    assert call(cluster, "GET", f"/_attachments/{name}", alice)[0] == 404
    assert call(cluster, "GET", f"/media/{name}", alice)[0] == 404
