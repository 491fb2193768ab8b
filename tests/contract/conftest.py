"""Prints the schemathesis run's figures and wall time at the end of the
test session (the CI log keeps them)."""

from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The module's name depends on the import mode: find it by its file.
    lines = next(
        (
            m.SUMMARY
            for m in list(sys.modules.values())
            if str(getattr(m, "__file__", "") or "").endswith("contract/test_schemathesis.py")
        ),
        None,
    )
    if lines:
        terminalreporter.section("API contract fuzzing (schemathesis)")
        for line in lines:
            terminalreporter.write_line(line)
