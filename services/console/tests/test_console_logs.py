"""`python -m console` logs as a service does (svc_common.observability):
JSON lines, one per request with its route's template, status and ids, and
no uvicorn access line: a query string (a name, a phone number someone typed
into a search) never reaches the log. Before, it wrote no request line of
its own and left uvicorn's access log on, and its LOG_JSON / LOG_LEVEL were
never applied."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from svc_common import testing

PHONE = "13912345678"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_console_writes_one_json_line_per_request_without_its_query(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "OTEL_"))}
    env |= {
        "PORT": str(port),
        "SESSION_SECRET": "console-logs-test-secret",
        "LOG_LEVEL": "INFO",
        "SHUTDOWN_DELAY_SECONDS": "0",
    }
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as sink, err.open("wb") as err_sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console"], env=env, stdout=sink, stderr=err_sink
        )
        try:
            testing.wait_until_ready(proc, f"{base}/ready", err)
            r = httpx.get(
                f"{base}/console/login",
                params={"next": f"/console/?phone={PHONE}"},
                headers={"X-Request-ID": "req-console-1", "Accept-Language": "en"},
                timeout=10,
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-request-id"] == "req-console-1"
            # The page's language (the Accept-Language here), said once.
            assert r.headers.get_list("content-language") == ["en"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    text = out.read_text()
    assert PHONE not in text and PHONE not in err.read_text()
    assert '"GET /' not in text, "no uvicorn access line beside the request line"
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    (login,) = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("request_id") == "req-console-1"
    ]
    assert (login["service"], login["method"], login["route"], login["status"]) == (
        "console",
        "GET",
        "/console/login",
        200,
    )
    assert {line.get("logger") for line in lines} >= {"uvicorn.error"}
