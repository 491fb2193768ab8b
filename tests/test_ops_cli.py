"""The operator's commands against a running embedded default, as an
operator uses them: a poison event is dead-lettered, listed, shown, re-driven
(still failing), discarded; the outbox and the stuck-saga list are read."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from svc_common import testing
from svc_common.events.schemas.permit import PermitCancelled
from svc_common.outbox import build_envelope

BUREAU = [sys.executable, "-m", "bureau"]


def _bureau(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BUREAU, *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_dead_letters_outbox_and_sagas_from_the_command_line(tmp_path: Path) -> None:
    port = testing.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*BUREAU, "run", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=(tmp_path / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "OUTBOX_SWEEP_SECONDS": "0.3"},
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.1)
        # A malformed event lands in permit-svc's outbox (a district that does
        # not exist): quota-svc cannot apply it, whatever it tries.
        bad = PermitCancelled(
            permit_id="P-X",
            permit_no="91120000MA00000000X001V",
            uscc="91120000MA00000000",
            enterprise_name="某化工厂",
            district="999999",
            reason="closure",
            pollutants_freed=[],
            vocs_freed_t="1",
        )
        env = build_envelope(bad)
        with sqlite3.connect(tmp_path / "permit.db") as db:
            db.execute(
                "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, "
                "attempts) VALUES (?, ?, ?, ?, ?, datetime('now'), 0)",
                (env.id, bad.topic, env.partitionkey, env.type, env.model_dump_json()),
            )
        admin = testing.auth("admin")
        for _ in range(100):  # wait (cheaply) for quota-svc to give up on it
            r = httpx.get(f"{url}/quota/admin/dead-letters", headers=admin, timeout=5)
            if r.json()["items"]:
                break
            time.sleep(0.2)
        out = _bureau("dlq", "list", "--service", "quota", "--json", url=url)
        assert out.returncode == 0, out.stderr
        (dead,) = json.loads(out.stdout)["items"]
        assert dead["event_type"] == "permit.cancelled.v1" and "999999" in dead["error"]
        shown = _bureau("dlq", "show", str(dead["id"]), "--service", "quota", url=url)
        assert shown.returncode == 0 and "999999" in shown.stdout

        again = _bureau("dlq", "redrive", str(dead["id"]), "--service", "quota", url=url)
        assert again.returncode == 1 and "dead" in again.stdout  # still failing: kept
        gone = _bureau(
            "dlq", "discard", str(dead["id"]), "--service", "quota", "--reason", "测试数据", url=url
        )
        assert gone.returncode == 0 and "discarded" in gone.stdout
        empty = _bureau("dlq", "list", "--service", "quota", url=url)
        assert empty.returncode == 0 and "none" in empty.stdout

        status = _bureau("outbox", "status", "--json", url=url)
        assert status.returncode == 0
        assert {s: v["unsent"] for s, v in json.loads(status.stdout).items()} == {
            "permit": 0,
            "quota": 0,
            "eia": 0,
            "supervision": 0,
        }
        stuck = _bureau("sagas", "stuck", "--older-than", "PT5M", url=url)
        assert stuck.returncode == 0 and "none" in stuck.stdout
        bad_token = subprocess.run(
            [*BUREAU, "dlq", "list", "--url", url, "--token", "nonsense"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad_token.returncode == 1 and "401" in bad_token.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_outbox_status_names_a_service_it_cannot_reach() -> None:
    """Against a closed port `outbox status` printed an empty table and exited
    0: an operator read "nothing unsent" from services that were down."""
    closed = f"http://127.0.0.1:{testing.free_port()}"
    out = _bureau("outbox", "status", url=closed)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.count("cannot reach") == 4 and "supervision" in out.stdout
    # --api, as every other command names the address, is the same option.
    also = subprocess.run(
        [*BUREAU, "dlq", "list", "--service", "supervision", "--api", closed],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert also.returncode == 2 and "cannot reach" in also.stdout, also.stdout + also.stderr
    as_json = _bureau("outbox", "status", "--json", url=closed)
    assert as_json.returncode == 2 and json.loads(as_json.stdout) == {}
    assert "supervision: cannot reach" in " ".join(as_json.stderr.split())
