"""`bureau run` (the embedded default) stopped with SIGTERM stops as a
service replica and the console do (svc_common.graceful): its process-wide
/ready, and each service's, answer 503 with `stopping: true` while every
request is still answered, then it exits by itself. Before, its /ready kept
answering 200 through the delay and the first refusal a load balancer saw
was a refused connection."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from svc_common import testing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_turns_ready_off_while_requests_are_still_answered(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_JSON": "false",
        "SHUTDOWN_DELAY_SECONDS": "2",
    }
    log_path = tmp_path / "bureau.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bureau", "run"], env=env, stdout=log, stderr=log
    )
    try:
        r = testing.wait_until_ready(proc, f"{base}/ready", log_path)
        assert r.json()["stopping"] is False
        assert r.json()["status"] == "ready"

        proc.send_signal(signal.SIGTERM)
        # The first answer of /ready other than 200 is a 503 saying why, not
        # a refused connection.
        seen = testing.first_not_ok(f"{base}/ready")
        assert isinstance(seen, tuple), (seen, log_path.read_text())
        status, body = seen
        assert (status, body["status"], body["stopping"]) == (503, "not ready", True)
        # Each service's own probe says so too: the process is stopping.
        r = httpx.get(f"{base}/permit/ready", timeout=2)
        assert (r.status_code, r.json()["stopping"]) == (503, True)
        # Still accepted and answered meanwhile (a balancer not yet told).
        assert httpx.get(f"{base}/health", timeout=2).status_code == 200
        assert httpx.get(f"{base}/quota/health", timeout=2).status_code == 200
        testing.stopped_gracefully(proc, f"{base}/health", log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
