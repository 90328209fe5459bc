"""Fixtures of the reliability suite (`make test-reliability`; not collected by `make test`).

Each scenario gets its own redis-server and its own TCP proxy before PostgreSQL, starts
its server processes itself (daphne and uvicorn) and stops them, by pid, at the end.
"""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from conftest import needs_services
from reliability.harness import RedisServer, Server, TcpProxy, proxied_database_url, server_env
from reliability.report import Report

_report = Report()
_started = time.monotonic()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Its own test database: the suite may run beside `make test` without either dropping the other's.
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_reliability"


@pytest.fixture
def report() -> Report:
    return _report


@pytest.fixture
def redis_server(tmp_path: Path):
    needs_services(postgres=True)
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
def pg_proxy():
    needs_services(postgres=True)
    proxy = TcpProxy(int(settings.DATABASES["default"].get("PORT") or 5432), settings.DATABASES["default"]["HOST"])
    proxy.start()
    yield proxy
    proxy.close()


@pytest.fixture
def launch(transactional_db, tmp_path: Path, request):
    """launch(kind, redis=..., proxy=..., **env) -> a started Server; all are stopped at the end.

    Asks for the transactional database first, so servers stop before its tables are flushed.
    """
    started: list[Server] = []
    prefix = f"rel{os.getpid()}{request.node.name[-20:]}".replace("[", "").replace("]", "").replace("-", "")

    def start(kind: str = "uvicorn", *, redis: RedisServer | None = None, proxy: TcpProxy | None = None, **env):
        database_url = env.pop("database_url", None)
        if database_url is None:
            database_url = proxied_database_url(proxy) if proxy is not None else _direct_database_url()
        server = Server(
            kind,
            server_env(database_url=database_url, redis_url=redis.url if redis else None, prefix=prefix, **env),
            tmp_path / f"{kind}-{len(started)}.log",
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if server.running():
            server.stop()


def _direct_database_url() -> str:
    from chatproject.testing import database_url_for_tests

    return database_url_for_tests()


def pytest_runtest_logreport(report):
    # The generated document says which scenarios did not pass in its run, not only the figures of those that did.
    if report.failed:
        _report.skipped.append((report.nodeid.split("::")[-1], f"FAILED ({report.when})"))
    elif report.skipped and report.when == "setup":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _report.skipped.append((report.nodeid.split("::")[-1], reason.removeprefix("Skipped: ")))


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("RELIABILITY_REPORT")
    if target and _report.rows:
        path = Path(target)
        if not path.is_absolute():
            path = Path(__file__).resolve().parent.parent / path
        path.write_text(_report.markdown(time.monotonic() - _started))
