"""Shared pytest set-up: see svc_common.testing for the real-server fixtures."""

from __future__ import annotations

import os
import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest
from svc_common import i18n, migration_templates, service, testing


def _expected_seconds(item: pytest.Item) -> float:
    """What a test marked slow states it takes on the CI machine
    (`@pytest.mark.slow(seconds=300)`), roughly; 0 for the others."""
    marker = item.get_closest_marker("slow")
    return 0.0 if marker is None else float(marker.kwargs.get("seconds", 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first, longest first: `make test` runs the
    suite on two workers (pytest-xdist), which take tests in this order, so
    the longest start early and the run does not end with one worker busy
    alone (the others keep their order)."""
    items.sort(key=lambda item: -_expected_seconds(item))


#: The schemathesis run's figures (tests/contract/test_schemathesis.py): the
#: test's report carries them as its property `schemathesis`, so they reach
#: this process also when the test ran on a worker (pytest-xdist runs no
#: conftest of a subfolder here: these hooks live at the root).
_FUZZ_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "schemathesis" and report.when == "call":
            _FUZZ_FIGURES[:] = str(value).splitlines()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The schemathesis figures and wall time, at the end of the session
    (the CI log keeps them)."""
    if _FUZZ_FIGURES:
        terminalreporter.section("API contract fuzzing (schemathesis)")
        for line in _FUZZ_FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Rules and handlers called directly speak English in tests (a request
    picks its language from Accept-Language; the test client asks for en)."""
    with i18n.use("en"):
        yield


@pytest.fixture(scope="session", autouse=True)
def migration_template_dbs() -> Iterator[migration_templates.Templates | None]:
    """An app's lifespan that migrates an empty database to head copies the
    first such migration of its service in this process instead of running
    Alembic again (svc_common.migration_templates): on SQLite, and on
    PostgreSQL too under TEST_PG_TEMPLATES=1; TEST_MIGRATE_FROM_SCRATCH=1
    migrates every database from nothing. Tests that call Alembic (or
    svc_common.migrate) themselves always run the migrations."""
    if os.environ.get(migration_templates.SWITCH) == "1":
        yield None
        return
    templates = migration_templates.Templates(
        lambda: os.environ.get("TEST_PG_ADMIN_URL") or None,
        pg=os.environ.get(migration_templates.PG_SWITCH) == "1",
    )
    with pytest.MonkeyPatch.context() as mp:
        # The lifespan calls the name service.py imported.
        mp.setattr(service, "upgrade_async", templates.upgrade_async)
        yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "pg"])
async def db_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """A fresh database of each kind: the test runs on SQLite and on PostgreSQL."""
    async with testing.database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def pg_url(tmp_path: pathlib.Path) -> AsyncIterator[str]:
    async with testing.database_url("pg", tmp_path) as url:
        yield url
