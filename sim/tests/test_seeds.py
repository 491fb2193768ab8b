"""The seeds `make sim` runs by default run in `make test` too: a city-year
each, with the default fault mix, and no invariant may be violated."""

from __future__ import annotations

import os

import pytest
from bureau_sim.config import SimConfig
from bureau_sim.run import Templates, run_seed

#: As in the Makefile (SIM_CI_SEEDS).
CI_SEEDS = int(os.environ.get("SIM_CI_SEEDS", "12"))


@pytest.mark.slow(seconds=75)
async def test_the_ci_seeds_violate_no_invariant() -> None:
    cfg = SimConfig()
    templates = Templates(cfg)
    failures: list[str] = []
    try:
        for seed in range(1, CI_SEEDS + 1):
            r = await run_seed(seed, cfg, templates)
            failures += [f"seed {seed}: {v}  (replay: make sim SEED={seed})" for v in r.violations]
    finally:
        await templates.close()
    assert not failures, "\n".join(failures)
