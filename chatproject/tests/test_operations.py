import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.db import OperationalError, connections
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATHS = [
    "/api/v1/auth/register/",
    "/api/v1/auth/token/",
    "/api/v1/auth/token/refresh/",
    "/api/v1/auth/logout/",
    "/api/v1/me/",
    "/api/v1/users/",
    "/api/v1/rooms/",
    "/api/v1/rooms/public/",
    "/api/v1/rooms/{room_id}/",
    "/api/v1/rooms/{room_id}/join/",
    "/api/v1/rooms/{room_id}/leave/",
    "/api/v1/rooms/{room_id}/members/",
    "/api/v1/rooms/{room_id}/members/{user_id}/",
    "/api/v1/dms/",
    "/api/v1/rooms/{room_id}/messages/",
    "/api/v1/messages/{message_id}/",
    "/api/v1/rooms/{room_id}/read/",
    "/api/v1/rooms/{room_id}/delivered/",
    "/api/v1/messages/{message_id}/receipts/",
    "/api/v1/search/messages/",
    "/api/v1/notifications/",
    "/api/v1/notifications/read/",
    "/api/v1/presence/",
]


@pytest.mark.django_db
def test_schema_is_openapi3_and_lists_endpoints():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    for path in CONTRACT_PATHS:
        assert path in schema["paths"], path
    register = schema["paths"]["/api/v1/auth/register/"]["post"]
    assert "requestBody" in register and "201" in register["responses"]


@pytest.mark.django_db
def test_swagger_ui_page():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_favicon_is_served():
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_healthz():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_ok():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content


@pytest.mark.django_db(transaction=True)
def test_readyz_503_names_the_database(monkeypatch):
    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    # On the class: the probe runs on a thread of its own, with its own connection object.
    monkeypatch.setattr(type(connections["default"]), "cursor", unreachable)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert list(response.json()["failing"]) == ["database"]


@pytest.mark.django_db
def test_metrics_are_prometheus_text():
    Client().get("/healthz")
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content
    # Real-time events the server knows it could not deliver (clients recover them with sync).
    assert b"chat_events_dropped_total" in response.content
    assert b"chat_events_published_total" in response.content


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="chat.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_refuses_to_start_without_secret_key_when_debug_off():
    result = _manage("check", DEBUG="0", ALLOWED_HOSTS="chat.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_secret_key_file_is_made_once_and_shared_by_every_process(tmp_path):
    key_file = tmp_path / "secret" / "key"
    show_key = ("shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "chat.example.com", "SECRET_KEY_FILE": str(key_file)}
    first, second = _manage(*show_key, **env), _manage(*show_key, **env)
    assert first.returncode == 0, first.stderr
    assert len(key_file.read_text()) >= 50
    key = key_file.read_text().strip()
    assert first.stdout.split()[-1] == second.stdout.split()[-1] == key
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_asgi_app_runs_the_middleware_chain_in_one_sync_pass():
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.middleware.csrf import CsrfViewMiddleware

    import chatproject.asgi  # noqa: F401  (loading it configures the chain)

    assert SessionMiddleware.async_capable is False
    assert CsrfViewMiddleware.async_capable is False


@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404_to_every_method_even_with_a_cookie():
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "stale"
    for method in ("get", "post", "delete", "patch"):
        response = getattr(client, method)("/api/v1/rooms/%C2%84/")
        assert response.status_code == 404, method  # not the CSRF failure page (403, HTML)
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
def test_djangos_request_body_limits_answer_json(settings, client, make_user):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post("/api/v1/auth/register/", {"username": "x" * 2000}, content_type="application/json")
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    client.force_login(make_user("alice"))
    many = client.post("/api/v1/attachments/", {f"f{i}": "x" for i in range(20)})
    assert many.status_code == 400 and many.json()["code"] == "invalid"


@pytest.mark.django_db
def test_every_operation_documents_the_errors_it_can_answer():
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "503" in answers and "Retry-After" in answers["503"]["headers"], where
            if "{" in path:
                assert "404" in answers, where
            if {} not in operation.get("security", []):
                assert "401" in answers, where
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(answers), where
                assert set(operation["requestBody"]["content"]) <= {"application/json", "multipart/form-data"}
                refused = answers["400"]["content"]["application/json"]["schema"]
                assert refused == {"oneOf": [{"$ref": "#/components/schemas/FieldErrors"}, error]}, where
            for code, answer in answers.items():
                if code in {"401", "403", "404", "413", "415", "503"}:
                    assert answer["content"]["application/json"]["schema"] == error, (where, code)


@pytest.mark.django_db
def test_schema_shapes_that_the_fuzzer_found_wrong():
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    paths, components = schema["paths"], schema["components"]["schemas"]
    page = paths["/api/v1/notifications/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(components[page["$ref"].rsplit("/", 1)[1]]["properties"]) == {"next", "previous", "results"}
    room = paths["/api/v1/rooms/{room_id}/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in room["anyOf"]} == {"MyRoom", "PublicRoom"}
    assert components["DirectRequest"]["properties"]["user_ids"]["minItems"] == 1
    assert components["MessageEditRequest"]["required"] == ["body"]  # PATCH, yet the body is not optional
    assert paths["/api/v1/notifications/read/"]["post"]["requestBody"]["required"] is True
