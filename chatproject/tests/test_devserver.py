"""`make run`'s launcher: the server and the task worker start together and stop together."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from chatproject.testing import ROOT, database_url_for_tests, free_port
from conftest import needs_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def wait_until(condition, timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := condition():
                return value
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def launcher(tmp_path):
    needs_services(postgres=True, redis=True)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL, "DEBUG": "1"}
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "chatproject.devserver", "127.0.0.1", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    log.close()
    healthy = f"http://127.0.0.1:{port}/healthz"
    wait_until(lambda: urllib.request.urlopen(healthy, timeout=1).status == 200)
    yield process, healthy
    if process.poll() is None:
        process.kill()
        process.wait()
    for pid in children(process.pid):
        os.kill(pid, signal.SIGKILL)


def test_ctrl_c_stops_the_server_and_the_worker(launcher):
    process, _ = launcher
    kids = wait_until(lambda: (k := children(process.pid)) and len(k) == 2 and k)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in kids]
    assert any(b"daphne" in c for c in commands[0]) and b"db_worker" in commands[1]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert all(gone(pid) for pid in kids)


def test_a_worker_that_dies_takes_the_server_down_with_it(launcher):
    process, healthy = launcher
    server, worker = wait_until(lambda: (k := children(process.pid)) and len(k) == 2 and k)
    os.kill(worker, signal.SIGKILL)
    assert process.wait(timeout=30) != 0
    assert gone(server)
    with pytest.raises(OSError):
        urllib.request.urlopen(healthy, timeout=2)
