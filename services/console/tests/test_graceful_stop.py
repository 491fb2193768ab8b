"""The console stopped with SIGTERM (a rolling deploy, `docker compose stop`)
stops as a service replica does (svc_common.graceful): /ready answers 503
with `stopping: true` while every request is still answered, then the page
in flight is finished. Before, `python -m console` stopped listening at once
and its /ready never said it was stopping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing

#: How long the stub quota-svc takes to answer the public register.
SLOW_SECONDS = 2.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _SlowQuota(BaseHTTPRequestHandler):
    """quota-svc, slow: the register is not published (404) after a wait."""

    def do_GET(self) -> None:
        time.sleep(SLOW_SECONDS)
        body = b'{"title": "Not Found", "status": 404, "detail": "no register"}'
        self.send_response(404)
        self.send_header("content-type", "application/problem+json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slow_quota() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowQuota)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sigterm_turns_ready_off_while_pages_are_still_served(
    tmp_path: Path, slow_quota: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "QUOTA_URL": slow_quota,
        "SESSION_SECRET": "console-graceful-stop-test-secret",
        "LOG_JSON": "false",
        "SHUTDOWN_DELAY_SECONDS": "2",
    }
    log_path = tmp_path / "console.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "console"], env=env, stdout=log, stderr=log)
    try:
        r = testing.wait_until_ready(proc, f"{base}/ready", log_path)
        assert r.json() == {"status": "ready", "service": "console", "stopping": False}

        slow: dict[str, Any] = {}

        def ask_slowly() -> None:
            try:
                r = httpx.get(f"{base}/console/public/register", timeout=30)
                slow["answer"] = (r.status_code, "总量指标" in r.text)
            except httpx.HTTPError as exc:
                slow["answer"] = repr(exc)

        asker = threading.Thread(target=ask_slowly)
        asker.start()
        time.sleep(0.5)  # the page is in flight, waiting on quota-svc
        proc.send_signal(signal.SIGTERM)
        # The first answer of /ready other than 200 is a 503 saying why, not
        # a refused connection.
        seen = testing.first_not_ok(f"{base}/ready")
        assert seen == (503, {"status": "not ready", "service": "console", "stopping": True})
        # Still accepted and answered meanwhile (a balancer not yet told).
        assert httpx.get(f"{base}/health", timeout=2).status_code == 200
        asker.join(timeout=30)
        assert slow["answer"] == (200, True), log_path.read_text()
        testing.stopped_gracefully(proc, f"{base}/health", log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
