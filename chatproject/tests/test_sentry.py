"""Error reports go to a Sentry-compatible service when SENTRY_DSN is set (and nowhere otherwise)."""

import gzip
import http.server
import os
import subprocess
import sys
import threading

from chatproject.testing import ROOT, free_port


class Collector(http.server.BaseHTTPRequestHandler):
    """Stands in for Sentry: keeps every envelope it is sent."""

    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Collector.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def run_with_dsn(dsn: str) -> subprocess.CompletedProcess:
    code = "import logging; logging.getLogger('chat.ops').error('sentry probe: the database is on fire')"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "SENTRY_DSN": dsn, "DATABASE_URL": "", "REDIS_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_error_logs_are_reported_when_sentry_dsn_is_set():
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Collector.received = []
    try:
        result = run_with_dsn(f"http://publickey@127.0.0.1:{port}/1")
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
    reports = b"".join(Collector.received)
    assert b"sentry probe: the database is on fire" in reports
    assert b'"environment":"development"' in reports.replace(b" ", b"")
