"""Storage fixtures for the attachment tests: a fresh local folder, or a real S3 endpoint."""

import subprocess
import sys
import time
import urllib.request

import pytest

from chatproject.testing import free_port

S3_KEYS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}


@pytest.fixture
def media_root(settings, tmp_path):
    """Attachments stored in a fresh folder for the test (the embedded default's storage)."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root}},
    }
    return root


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto in server mode) on a free loopback port, for the whole run."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint, settings):
    """A fresh bucket on the S3 endpoint, made the default storage as S3_* settings would."""
    import secrets

    import boto3

    bucket = f"chat-{secrets.token_hex(6)}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_boto_keys())
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": S3_KEYS["AWS_ACCESS_KEY_ID"],
                "secret_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                "addressing_style": "path",
                "querystring_expire": 60,
                "default_acl": None,
                "file_overwrite": False,
                "signature_version": "s3v4",
            },
        },
    }
    return client, bucket


def _boto_keys() -> dict:
    return {
        "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    }
