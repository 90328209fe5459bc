"""Scenario 6b: schemathesis over `/api/schema/` on a real server, with all its checks: 0 failures.

Every operation of the schema gets generated requests (valid and invalid, each phase of
`schemathesis run`: examples, coverage, fuzzing, stateful links), as an authenticated
user who owns a room with messages, an upload, a direct conversation and notifications;
the sequences start at 1, so generated small ids often name those objects. Any answer the
schema does not describe (a status, a content type, a body, a header), a 5xx, a valid
request refused or an invalid one accepted is a failure.

The run is the command-line one an outside tester uses (`schemathesis run`), bounded by a
fixed number of examples per operation and deterministic generation, with the server's
rate limits off (as in every scenario: ServerProcess sets THROTTLE_DISABLED).
"""

import json
import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from messaging import services as messaging
from reliability.report import Row
from reliability.scenario import make_world, rest
from rooms import services as rooms

pytestmark = [pytest.mark.django_db(transaction=True, reset_sequences=True), pytest.mark.timeout(600)]

MAX_EXAMPLES = 20

# Every check of the installed version (`--checks all`). Only one part of one check is set
# differently, in the configuration below: `positive_data_acceptance` (a request the schema
# calls valid must not be refused) also lets these operations answer 400, each because
# whether the request is valid depends on what is stored or secret, which no schema can say,
# and the contract (docs/protocol.md) answers that with 400 `invalid`. Every other status
# the check refuses (405, 415, 422, 5xx ...) still fails them, and every other check applies.
STATEFUL_400 = {
    "v1_auth_register_create": "the username and e-mail must be free; the password must pass Django's "
    "validators (not common, not like the username), beyond the length and pattern the schema gives",
    "v1_me_password_create": "old_password must be the caller's password",
    "v1_auth_logout_create": "refresh must be a refresh token the server issued",
    "v1_attachments_create": "the type is sniffed from the bytes; the contract refuses some types with 400",
    "v1_dms_create": "user_ids must name active users",
    "v1_rooms_members_create": "user_id must name an active user",
    "v1_rooms_members_partial_update": "a room keeps an owner: its last owner cannot be demoted",
    "v1_rooms_members_destroy": "a room keeps an owner (its last one cannot leave or be removed); removing "
    "yourself is leaving",
    "v1_rooms_leave_create": "the caller must be a member, and not the last owner (400, pinned by rooms' tests)",
    "v1_rooms_messages_create": "attachments must be the sender's unused uploads, reply_to a message of "
    "this room (the contract's 400)",
    "v1_rooms_messages_retrieve": "around excludes before and after, which OpenAPI 3.0 cannot say of query parameters",
    "v1_search_messages_retrieve": "cursor must be a next_cursor the server gave",
}
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


def config_toml() -> str:
    ids = ", ".join(f'"{operation}"' for operation in sorted(STATEFUL_400))
    return (
        "[[operations]]\n"
        f"include-operation-id = [{ids}]\n"
        f"checks.positive_data_acceptance.expected-statuses = {json.dumps(POSITIVE_STATUSES)}\n"
    )


def seed(server) -> tuple[str, dict]:
    """The fuzzer's user: owner of a public room with talk, in a private room and a DM, with an upload."""
    world = make_world(3, name="fuzzed", prefix="oa")
    owner, peer, third = world.users
    for n in range(5):
        messaging.message_send(sender=owner, room_id=world.room_id, body=f"hello {n}", client_id=f"o{n}")
        messaging.message_send(sender=peer, room_id=world.room_id, body=f"@{owner.username} hi {n}", client_id=f"p{n}")
    private = rooms.room_create(creator=peer, name="private", kind="private")
    rooms.member_add(actor=peer, room_id=private.pk, user_id=owner.pk)
    dm, _ = rooms.direct_get_or_create(creator=third, user_ids=[owner.pk])
    messaging.message_send(sender=third, room_id=dm.pk, body="a direct message", client_id="d0")
    token = world.tokens[0]
    # Through the server, so the file lands in its storage; then used in a message, so it stays.
    upload = rest(
        server, token, "POST", "/api/v1/attachments/", files={"file": ("notes.txt", b"notes\n", "text/plain")}
    )
    assert upload.status_code == 201, upload.text
    sent = rest(
        server, token, "POST", f"/api/v1/rooms/{world.room_id}/messages/", json={"attachments": [upload.json()["id"]]}
    )
    assert sent.status_code == 201, sent.text
    return token, {"room": world.room_id, "private": private.pk, "dm": dm.pk}


def test_openapi_schema_holds_under_generated_requests(launch, redis_server, tmp_path, report):
    server = launch("uvicorn", redis=redis_server)
    token, _ = seed(server)
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_toml())
    result_path = tmp_path / "schemathesis.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{server.http}/api/schema/",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # the same cases every run (and no example database)
        "--workers",
        "1",  # the machine's cores are shared; one worker keeps the run's order (and its outcome) fixed
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(result_path),
    ]
    started = time.monotonic()
    # In its own directory: schemathesis keeps a cache there (crashes it replays on the next run).
    run = subprocess.run(command, capture_output=True, text=True, timeout=540, cwd=tmp_path)
    seconds = time.monotonic() - started
    (tmp_path / "schemathesis.txt").write_text(run.stdout + run.stderr)
    result = json.loads(result_path.read_text())
    failures = {group["type"]: group["count"] for group in result["failures"]}
    operations = result["operations"]
    cases = result["test_cases"]["generated"]
    phases = ", ".join(f"{name} {state['status']}" for name, state in (result["phases"] or {}).items())
    tracebacks = server.log_text().count("Traceback (most recent call last)")
    report.add(
        Row(
            "6b. Generated REST requests (uvicorn+postgresql)",
            f"schemathesis {version('schemathesis')} over /api/schema/, all checks; phases: {phases} (the "
            "schema has no examples)",
            f"{cases} cases over {operations['tested']}/{operations['total']} operations ({MAX_EXAMPLES} "
            f"examples per operation, deterministic), {seconds:.0f} s",
            "-",
            "-",
            "-",
            "-",
            f"failures by check: {dict(sorted(failures.items())) or 'none'}; errors: {len(result['errors'])}; "
            f"{tracebacks} tracebacks in the server log; 400 allowed as valid data's answer on "
            f"{len(STATEFUL_400)} operations (stored or secret state, see the test)",
        )
    )
    output = (run.stdout + run.stderr)[-20000:]
    assert result["complete"] and result["errors"] == [], output
    assert failures == {}, output
    assert operations["tested"] == operations["total"] > 30, operations
    assert run.returncode == 0, output
    assert tracebacks == 0
