"""Prints the schemathesis run's figures and wall time at the end of the
test session (the CI log keeps them). They travel as the test report's
property `schemathesis`, so they are printed also when the test ran on
another worker (pytest-xdist, as in `make test`)."""

from __future__ import annotations

import pytest

_LINES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "schemathesis" and report.when == "call":
            _LINES[:] = str(value).splitlines()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section("API contract fuzzing (schemathesis)")
        for line in _LINES:
            terminalreporter.write_line(line)
