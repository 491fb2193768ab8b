"""Schemathesis against every service of the embedded default, in `make
test`: every check, every phase (examples, coverage, fuzzing, stateful), the
hooks of st_hooks.py, a few examples per operation, two services at a time;
the console's pages and forms with the one check that applies to them (no
5xx). Every documented operation must be called and the run must find
nothing. `make fuzz` runs the same at full size (figures in
docs/api-contract.md); this run's figures and wall time are printed at the
end of the test session."""

from __future__ import annotations

import importlib.util
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("contract_fuzz", Path(__file__).with_name("fuzz.py"))
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["contract_fuzz"] = fuzz
_spec.loader.exec_module(fuzz)

#: Examples per operation in `make test` (CONTRACT_EXAMPLES overrides).
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "3"))


@pytest.mark.slow(seconds=300)
def test_schemathesis_finds_nothing(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    def cpu() -> float:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        return used.ru_utime + used.ru_stime

    started, cpu_before = time.monotonic(), cpu()
    figures = fuzz.run(max_examples=EXAMPLES, out=tmp_path, seed=20260301)
    # Wall time depends on what else the machine runs; CPU time (server and
    # schemathesis processes) does not.
    wall, cpu_used = time.monotonic() - started, cpu() - cpu_before
    lines = [
        f"{f.service:<12} {f.operations:>3}/{f.documented:<3} operations {f.cases:>6} cases "
        f"{f.failures} failures {f.seconds:>6.1f} s  {f.phases}"
        for f in figures
    ]
    summary = [
        f"schemathesis, {EXAMPLES} examples per operation: {sum(f.cases for f in figures)} "
        f"cases, {sum(f.failures for f in figures)} failures, wall {wall:.0f} s, "
        f"CPU {cpu_used:.0f} s (load average {os.getloadavg()[0]:.1f})",
        *lines,
    ]
    report = "\n".join(summary)
    # Printed at the end of the session (the root conftest.py).
    record_property("schemathesis", report)
    for f in figures:
        assert f.documented > 0 and f.operations == f.documented, (
            f"{f.service}: not every documented operation was called:\n{report}"
        )
        assert f.failures == 0 and f.exit_code == 0, (
            f"schemathesis found failures in {f.service}; see {tmp_path}/{f.service}.txt\n"
            + (tmp_path / f"{f.service}.txt").read_text()[-6000:]
        )


def test_the_demo_config_gives_the_records_ids_to_their_parameters(tmp_path: Path) -> None:
    """`fuzz.py --demo`: the ids read from the demonstration data become a
    parameter dictionary of each parameter, drawn half the time, in a copy
    of schemathesis.toml that keeps every setting of the original."""
    from schemathesis.config import SchemathesisConfig

    audits = [{"id": "a1", "findings": [{"id": "f1"}, {"id": "f2"}]}, {"id": "a2"}]
    assert [v for a in audits for v in fuzz._values(a, "findings.id")] == ["f1", "f2"]
    ids = {"path.filing_id": ["F-1", "F\u200b2"], "path.lot_id": [1, 2], "query.code": ["X"]}
    config = SchemathesisConfig.from_path(str(fuzz.demo_config(ids, tmp_path)))
    bound = config.projects.default.parameters
    assert set(bound) == set(ids)
    assert {b.dictionary: b.probability for b in bound.values()} == {
        "path_filing_id": fuzz.DEMO_PROBABILITY,
        "path_lot_id": fuzz.DEMO_PROBABILITY,
        "query_code": fuzz.DEMO_PROBABILITY,
    }
    values = {name: [e.value for e in d.entries] for name, d in config.dictionaries.items()}
    assert values == {
        "path_filing_id": ["F-1", "F\u200b2"],
        "path_lot_id": [1, 2],
        "query_code": ["X"],
    }
    original = SchemathesisConfig.from_path(str(fuzz.HERE / "schemathesis.toml"))
    assert len(config.projects.default.operations.operations) == len(
        original.projects.default.operations.operations
    )
