"""A seed replays exactly: the same seed gives the same trace (every step,
request, answer, delivery, crash and outage, hashed), in this process and in
another one with another hash seed; another seed gives another trace."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from bureau_sim.config import SimConfig
from bureau_sim.run import Templates, run_seed

ROOT = Path(__file__).resolve().parents[2]
#: A short year with every kind of fault, run to its end whatever it finds.
SETTINGS: dict[str, Any] = {
    "faults": "heavy",
    "days": 15,
    "enterprises": 200,
    "existing_permits": 20,
    "filings": 10,
    "permit_stories": 4,
    "registrations": 2,
    "machine_filings": 2,
    "bulk_uploads": 1,
    "bulk_rows": 10,
    "audits": 2,
    "desk_rounds": 2,
    "enforcements": 2,
    "rushes": 1,
    "stop_at_first": False,
}


@pytest.mark.slow(seconds=24)
async def test_a_seed_replays_exactly() -> None:
    cfg = SimConfig(**SETTINGS)
    templates = Templates(cfg)
    try:
        first = await run_seed(7, cfg, templates)
        again = await run_seed(7, cfg, templates)
        other = await run_seed(8, cfg, templates)
    finally:
        await templates.close()
    assert first.steps > 150 and first.faults > 10, first.stats
    assert again.trace_hash == first.trace_hash
    assert (again.steps, again.stats, [str(v) for v in again.violations]) == (
        first.steps,
        first.stats,
        [str(v) for v in first.violations],
    )
    assert other.trace_hash != first.trace_hash

    # `make sim SEED=7` in another process (PYTHONHASHSEED=0 there, random here).
    env = dict(os.environ, **{f"SIM_{k.upper()}": str(v) for k, v in SETTINGS.items()})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bureau_sim",
        "--seed",
        "7",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=300)
    out = stdout.decode() + stderr.decode()
    found = re.search(r"^trace ([0-9a-f]{64})$", out, re.MULTILINE)
    assert found, out
    assert found.group(1) == first.trace_hash
