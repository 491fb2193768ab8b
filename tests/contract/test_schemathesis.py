"""Schemathesis against every service of the embedded default, in `make
test`: every check, every phase (examples, coverage, fuzzing, stateful), the
hooks of st_hooks.py, a few examples per operation so the four services take
about four minutes together on the CI machine. `make fuzz` runs the same at
full size (figures in docs/api-contract.md). The run must find nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("contract_fuzz", Path(__file__).with_name("fuzz.py"))
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["contract_fuzz"] = fuzz
_spec.loader.exec_module(fuzz)

#: Examples per operation in `make test` (CONTRACT_EXAMPLES overrides).
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "3"))


@pytest.mark.slow
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    figures = fuzz.run(max_examples=EXAMPLES, out=tmp_path, seed=20260301)
    report = "\n".join(json.dumps(asdict(f), ensure_ascii=False) for f in figures)
    print(report)
    for f in figures:
        assert f.cases > 100 and f.operations > 20, f"{f.service} hardly ran:\n{report}"
        assert f.failures == 0 and f.exit_code == 0, (
            f"schemathesis found failures in {f.service}-svc; see {tmp_path}/{f.service}.txt\n"
            + (tmp_path / f"{f.service}.txt").read_text()[-6000:]
        )
