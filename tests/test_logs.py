"""`bureau run` (what `make run` starts) as a process: every line it prints
is JSON, uvicorn's and Alembic's included; one line per request with its
route template, status, latency, caller and ids; one line per handled event
carrying the correlation id of the request that started the story; a client's
unsafe X-Request-ID never reaches the log."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from svc_common import testing
from svc_common.uscc import check_character

from bureau.stack import free_port

JIZHOU = "120119"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BAD_ID = 'evil id" <script>'


async def _drive(base: str) -> dict[str, Any]:
    admin = testing.auth("admin", sub="admin.zhang")
    officer = testing.auth("officer", [JIZHOU], sub="officer.wang")
    seen: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post(
            f"/quota/pools/{JIZHOU}/VOCs/baseline",
            json={"amount_t": "10"},
            headers={**admin, "X-Request-ID": "req-baseline-1", "X-Correlation-ID": "story-1"},
        )
        assert r.status_code == 201, r.text
        body = "91120225MA05JY8X4"
        r = await c.post(
            "/eia/filings",
            json={
                "project_name": "蓟州区涂料扩建项目",
                "uscc": body + check_character(body),
                "enterprise_name": "天津某涂料有限公司",
                "district": JIZHOU,
                "project_type": "C2641",
                "category": "report_form",
                "vocs_increment_t": "1",
                "major_project": False,
            },
            headers=officer,
        )
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        r = await c.post(
            f"/eia/filings/{fid}/accept", headers={**officer, "X-Correlation-ID": "story-2"}
        )
        assert r.status_code == 200, r.text
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            f = (await c.get(f"/eia/filings/{fid}", headers=officer)).json()
            if f["quota_status"] != "pending" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        assert f["quota_status"] == "secured", f
        for bad in (BAD_ID, "x" * 65):
            r = await c.get("/quota/health", headers={"X-Request-ID": bad})
            assert UUID.match(r.headers["x-request-id"]), r.headers["x-request-id"]
            assert r.headers["x-correlation-id"] == r.headers["x-request-id"]
        seen["filing"] = fid
    return seen


def _start(env: dict[str, str], out: Any, err: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bureau", "run"], env=env, stdout=out, stderr=err
    )


async def test_bureau_run_logs_json_lines_with_ids(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "OTEL_", "DATABASE_"))}
    env |= {"PORT": str(port), "DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "INFO"}
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out.open("wb") as sink, err.open("wb") as err_sink:
        proc = _start(env, sink, err_sink)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient() as c:
                while True:
                    assert proc.poll() is None, err.read_text()
                    try:
                        if (await c.get(f"{base}/ready", timeout=2)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, "bureau run did not become ready"
                    await asyncio.sleep(0.2)
            seen = await _drive(base)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = out.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert BAD_ID not in text and "x" * 65 not in text
    assert '"GET /' not in text, "no uvicorn access lines beside the request lines"

    loggers = {line.get("logger") for line in lines}
    assert "uvicorn.error" in loggers, "uvicorn's lines go through structlog"
    assert any(str(name).startswith("alembic") for name in loggers), "so do Alembic's"

    (baseline,) = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("request_id") == "req-baseline-1"
    ]
    assert baseline["route"] == "/quota/pools/{district}/{pollutant}/baseline"
    assert (baseline["method"], baseline["status"], baseline["sub"]) == ("POST", 201, "admin.zhang")
    assert baseline["correlation_id"] == "story-1" and baseline["service"] == "quota-svc"
    assert isinstance(baseline["latency_ms"], float) and baseline["latency_ms"] > 0
    (accept,) = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("route") == "/eia/filings/{filing_id}/accept"
    ]
    assert accept["correlation_id"] == "story-2" and UUID.match(accept["request_id"])

    # Every event of the story is handled under the story's correlation id.
    events = [line for line in lines if line.get("event") == "event"]
    story = {
        (e["group"], e["type"], e["outcome"])
        for e in events
        if e.get("correlation_id") == "story-2"
    }
    assert ("quota-svc", "eia.filing.accepted.v1", "applied") in story
    assert ("eia-svc", "quota.reserved.v1", "applied") in story
    for e in events:
        assert e["correlation_id"] and isinstance(e["latency_ms"], float), e
    assert seen["filing"]
